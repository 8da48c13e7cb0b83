// Package testclip makes video clips from annotated stills for live tests
// and benchmarks, with each frame's still index stamped into its pixels so a
// frame grabbed from a browser can be matched to its ground truth.
package testclip

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"os"
	"path/filepath"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/eval"
)

// The stamp: 16 blocks of StampBlock px in the top band, 8 bits of the index
// then their complement (a misread is detected, not believed).
const (
	StampBlock = 16
	stampBits  = 8
	// Band is the height of the top band kept for the stamp.
	Band = 2 * StampBlock
)

// Still is one annotated picture placed in the clip.
type Still struct {
	File  string
	Faces []image.Rectangle // in clip coordinates
}

// Clip is a generated clip.
type Clip struct {
	Path          string
	Width, Height int
	FPS           float64
	Stills        []Still
	PerStill      int // frames each still is held
}

// Source renders still i as a clip frame into dst (the exact pixels
// written to the clip before compression).
func (c *Clip) Source(dir string, i int, dst *gocv.Mat) error {
	return render(filepath.Join(dir, c.Stills[i].File), i, c.Width, c.Height, dst, nil)
}

// Faces writes a clip of the stills of an annotated face set (gt.csv in
// the eval format) into out (MJPEG AVI, high quality), each held for
// perStill frames at fps, letterboxed below the stamp band.
func Faces(gtCSV, out string, w, h int, fps float64, perStill int) (*Clip, error) {
	return FromSet(gtCSV, out, w, h, fps, perStill, 255)
}

// FromSet is Faces for any annotated set (faces or plates), with at most
// maxStills stills (at most 255).
func FromSet(gtCSV, out string, w, h int, fps float64, perStill, maxStills int) (*Clip, error) {
	f, err := os.Open(gtCSV)
	if err != nil {
		return nil, err
	}
	boxes, _, err := eval.ParseCSV(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	if len(boxes) == 0 || len(boxes) > 255*64 {
		return nil, errors.New("testclip: want 1-255 stills")
	}
	dir := filepath.Join(filepath.Dir(gtCSV), "images")
	byFile := map[string][]image.Rectangle{}
	var order []string
	for _, b := range boxes {
		if _, ok := byFile[b.File]; !ok {
			order = append(order, b.File)
		}
		byFile[b.File] = append(byFile[b.File], b.Rect)
	}
	if maxStills > 255 {
		return nil, errors.New("testclip: at most 255 stills")
	}
	if len(order) > maxStills {
		order = order[:maxStills]
	}
	vw, err := gocv.VideoWriterFile(out, "MJPG", fps, w, h, true)
	if err != nil {
		return nil, err
	}
	defer vw.Close()
	c := &Clip{Path: out, Width: w, Height: h, FPS: fps, PerStill: perStill}
	frame := gocv.NewMat()
	defer frame.Close()
	for i, name := range order {
		var place func(image.Rectangle) image.Rectangle
		if err := render(filepath.Join(dir, name), i, w, h, &frame, &place); err != nil {
			return nil, err
		}
		st := Still{File: name}
		for _, r := range byFile[name] {
			st.Faces = append(st.Faces, place(r))
		}
		c.Stills = append(c.Stills, st)
		for range perStill {
			if err := vw.Write(frame); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

// render draws the still at path, scaled to fit below the band, with index
// i stamped; place (if asked) maps still coordinates to clip coordinates.
func render(path string, i, w, h int, dst *gocv.Mat, place *func(image.Rectangle) image.Rectangle) error {
	img := gocv.IMRead(path, gocv.IMReadColor)
	defer img.Close()
	if img.Empty() {
		return fmt.Errorf("testclip: cannot read %s", path)
	}
	avail := h - Band
	s := math.Min(float64(w)/float64(img.Cols()), float64(avail)/float64(img.Rows()))
	sw, sh := int(float64(img.Cols())*s), int(float64(img.Rows())*s)
	ox, oy := (w-sw)/2, Band+(avail-sh)/2
	if dst.Rows() != h || dst.Cols() != w || dst.Type() != gocv.MatTypeCV8UC3 {
		dst.Close()
		*dst = gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	}
	dst.SetTo(gocv.NewScalar(96, 96, 96, 0))
	roi := dst.Region(image.Rect(ox, oy, ox+sw, oy+sh))
	gocv.Resize(img, &roi, image.Pt(sw, sh), 0, 0, gocv.InterpolationArea)
	roi.Close()
	Stamp(dst, i)
	if place != nil {
		*place = func(r image.Rectangle) image.Rectangle {
			return image.Rect(ox+int(float64(r.Min.X)*s), oy+int(float64(r.Min.Y)*s), ox+int(math.Ceil(float64(r.Max.X)*s)), oy+int(math.Ceil(float64(r.Max.Y)*s)))
		}
	}
	return nil
}

// Stamp writes n (0-255) into the top-left band of img.
func Stamp(img *gocv.Mat, n int) {
	for b := range 2 * stampBits {
		bit := n >> (b % stampBits) & 1
		if b >= stampBits {
			bit ^= 1
		}
		c := color.RGBA{A: 255}
		if bit == 1 {
			c = color.RGBA{255, 255, 255, 255}
		}
		gocv.Rectangle(img, image.Rect(b*StampBlock, 0, (b+1)*StampBlock, StampBlock), c, -1)
	}
}

// ReadStamp reads the index stamped in img; ok is false when the stamp is
// unreadable (a masked frame, a corrupt one).
func ReadStamp(img gocv.Mat) (n int, ok bool) {
	if img.Cols() < 2*stampBits*StampBlock || img.Rows() < StampBlock || img.Type() != gocv.MatTypeCV8UC3 {
		return 0, false
	}
	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(img, &gray, gocv.ColorBGRToGray)
	var bits [2 * stampBits]int
	for b := range bits {
		r := gray.Region(image.Rect(b*StampBlock+4, 4, (b+1)*StampBlock-4, StampBlock-4))
		m := r.Mean().Val1
		r.Close()
		switch {
		case m > 170:
			bits[b] = 1
		case m < 85:
			bits[b] = 0
		default:
			return 0, false
		}
	}
	for b := range stampBits {
		if bits[b] == bits[b+stampBits] {
			return 0, false
		}
		n |= bits[b] << b
	}
	return n, true
}

// Similarity is the correlation of fine detail (the picture minus its own
// blur) between src and out inside r: about 1 when out shows what src
// shows, about 0 when r was destroyed (pixelated, blurred, filled), whatever
// the codec did to the rest. Both must be the same size, BGR.
func Similarity(src, out gocv.Mat, r image.Rectangle) float64 {
	r = r.Intersect(image.Rect(0, 0, src.Cols(), src.Rows())).Intersect(image.Rect(0, 0, out.Cols(), out.Rows()))
	if r.Dx() < 4 || r.Dy() < 4 {
		return 0
	}
	a, b := highPass(src, r), highPass(out, r)
	var ab, aa, bb float64
	for i := range a {
		ab += a[i] * b[i]
		aa += a[i] * a[i]
		bb += b[i] * b[i]
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

func highPass(img gocv.Mat, r image.Rectangle) []float64 {
	roi := img.Region(r)
	defer roi.Close()
	gray, blur := gocv.NewMat(), gocv.NewMat()
	defer gray.Close()
	defer blur.Close()
	gocv.CvtColor(roi, &gray, gocv.ColorBGRToGray)
	gocv.GaussianBlur(gray, &blur, image.Pt(0, 0), 2, 2, gocv.BorderReflect)
	g, _ := gray.DataPtrUint8()
	bl, _ := blur.DataPtrUint8()
	out := make([]float64, len(g))
	for i := range g {
		out[i] = float64(g[i]) - float64(bl[i])
	}
	return out
}
