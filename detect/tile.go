package detect

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"

	"gocv.io/x/gocv"
)

// A Pass looks at the frame once at one magnification. Zoom 0 fits the whole
// frame into the network input (one tile). Zoom z > 0 resamples the frame by z
// (2 doubles it) and cuts it into network-sized tiles that overlap, so a face
// of 8 px is seen as one of 16 px. Tiling is how small faces and distant plates
// are found without feeding a network a huge input it was not made for.
type Pass struct {
	Zoom float64 `json:"zoom"`
	// MaxTiles bounds the cost of a pass on a large frame: above it the zoom is
	// lowered until the tiles fit. 0 means no bound.
	MaxTiles int `json:"max_tiles,omitempty"`
	// MaxFit caps the magnification of a frame small enough for one tile
	// (a small crop is not blown up past it). 0 means no cap.
	MaxFit float64 `json:"max_fit,omitempty"`
}

// tile is a source rectangle and the factor it is resampled by.
type tile struct {
	src   image.Rectangle
	scale float64
}

const tileOverlap = 0.25

// plan returns the tiles of one pass over a w x h frame for a network input of
// in.X x in.Y.
func plan(w, h int, in image.Point, p Pass) []tile {
	if w <= 0 || h <= 0 || in.X <= 0 || in.Y <= 0 {
		return nil
	}
	fit := math.Min(float64(in.X)/float64(w), float64(in.Y)/float64(h))
	if p.MaxFit > 0 && fit > p.MaxFit {
		fit = p.MaxFit
	}
	z := p.Zoom
	if z <= 0 || z <= fit {
		return []tile{{image.Rect(0, 0, w, h), fit}}
	}
	for {
		tw := min(w, int(math.Floor(float64(in.X)/z)))
		th := min(h, int(math.Floor(float64(in.Y)/z)))
		xs := spans(w, tw)
		ys := spans(h, th)
		if p.MaxTiles > 0 && len(xs)*len(ys) > p.MaxTiles && z > fit {
			z = math.Max(fit, z*0.9)
			continue
		}
		tiles := make([]tile, 0, len(xs)*len(ys))
		for _, y := range ys {
			for _, x := range xs {
				tiles = append(tiles, tile{image.Rect(x, y, x+tw, y+th), z})
			}
		}
		return tiles
	}
}

// spans returns the start offsets of windows of length t covering n with at
// least tileOverlap overlap, spread evenly so the last ends at n.
func spans(n, t int) []int {
	if t >= n {
		return []int{0}
	}
	step := float64(t) * (1 - tileOverlap)
	k := int(math.Ceil(float64(n-t)/step)) + 1
	out := make([]int, k)
	for i := range out {
		out[i] = int(math.Round(float64(i) * float64(n-t) / float64(k-1)))
	}
	return out
}

// fixedNet is a network with one fixed input size; infer runs it on a frame
// already resampled and padded to that size and returns boxes in input pixels.
type fixedNet interface {
	inputSize() image.Point
	infer(in gocv.Mat) ([]Detection, error)
}

// tiler runs a fixedNet over the passes' tiles and maps boxes back.
type tiler struct {
	net    fixedNet
	dnn    network // the model behind net; closed with the tiler
	passes []Pass
	scaled gocv.Mat
	padded gocv.Mat
	memo   *memo // nil: every tile is looked at on every frame
	run    int   // network runs (a merged pass counts once)
	// anyInput, when not 0, says the network takes an input of any size
	// whose sides are multiples of it: a pass's tiles are then looked at
	// in one run over the whole area (see mergedInput).
	anyInput int
	merged   int         // passes run merged
	memos    []*tileMemo // a pass's tiles' memos, reused across calls
}

// maxMergedPixels bounds a merged input: about a 1080p frame's, which is
// what a whole-frame pass over 1080p merges into (at 0.81, where 640x640
// tiles stop at 6). ONNX Runtime keeps the memory of the largest input a
// session has run, so this bounds what merging adds to RSS; a larger area
// runs as tiles.
const maxMergedPixels = 1920 * 1088

func newTiler(n fixedNet, dnn network, passes []Pass, r Reuse) *tiler {
	t := &tiler{net: n, dnn: dnn, passes: orWholeFrame(passes), scaled: gocv.NewMat(), padded: gocv.NewMat()}
	if r.Enabled() {
		t.memo = newMemo(r)
	}
	return t
}

func (t *tiler) close() error {
	t.scaled.Close()
	t.padded.Close()
	if t.memo != nil {
		t.memo.close()
	}
	return t.dnn.close()
}

// stats reports how many tiles were run and how many were answered from
// the memo since the tiler was made.
func (t *tiler) stats() TileStats {
	s := TileStats{Run: t.run, Merged: t.merged}
	if t.memo != nil {
		s.Reused = t.memo.reused
	}
	return s
}

// ErrBadFrame is returned for a frame a detector cannot look at (empty, not
// 8-bit BGR).
var ErrBadFrame = errors.New("detect: frame is empty or not 8-bit BGR")

func checkFrame(img gocv.Mat) error {
	if img.Empty() || img.Type() != gocv.MatTypeCV8UC3 || img.Cols() < 2 || img.Rows() < 2 {
		return ErrBadFrame
	}
	return nil
}

// detect runs every pass over roi (a rectangle of img) and returns boxes in
// img's coordinates.
// Over the whole frame, tiles whose pixels have not changed since they were
// last run are answered from the memo (when reuse is on).
func (t *tiler) detect(img gocv.Mat, roi image.Rectangle) ([]Detection, error) {
	useMemo := t.memo != nil && roi == image.Rect(0, 0, img.Cols(), img.Rows())
	return t.detectPasses(img, roi, t.passes, useMemo)
}

func (t *tiler) detectPasses(img gocv.Mat, roi image.Rectangle, passes []Pass, useMemo bool) ([]Detection, error) {
	if err := checkFrame(img); err != nil {
		return nil, err
	}
	roi = roi.Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
	if roi.Dx() < 2 || roi.Dy() < 2 {
		return nil, nil
	}
	if useMemo {
		t.memo.begin(img)
	}
	in := t.net.inputSize()
	var out []Detection
	for i, p := range passes {
		tiles := plan(roi.Dx(), roi.Dy(), in, p)
		memos := t.memos[:0]
		stale := len(tiles)
		for _, tl := range tiles {
			var m *tileMemo
			if useMemo {
				if m = t.memo.lookup(i, tl.src.Add(roi.Min)); m.reusable() {
					stale--
				}
			}
			memos = append(memos, m)
		}
		t.memos = memos
		if size, ok := t.mergedInput(roi, tiles, stale, in); ok {
			dets, err := t.runTile(img, roi, tiles[0].scale, size)
			if err != nil {
				return nil, err
			}
			t.run++
			t.merged++
			for j, m := range memos {
				if m != nil {
					src := tiles[j].src.Add(roi.Min)
					m.store(src, within(dets, src))
				}
			}
			out = append(out, dets...)
			continue
		}
		for j, tl := range tiles {
			src := tl.src.Add(roi.Min)
			m := memos[j]
			if m != nil && m.fresh() {
				out = append(out, m.dets...)
				continue
			}
			dets, err := t.runTile(img, src, tl.scale, in)
			if err != nil {
				return nil, err
			}
			t.run++
			if m != nil {
				m.store(src, dets)
			}
			out = append(out, dets...)
		}
	}
	return out, nil
}

// mergedInput says whether a pass's tiles over roi are looked at in one run
// instead, and through what input: when the network takes any size
// (anyInput), the pass has more than one tile, and roi resampled as the
// tiles are, its sides rounded up to anyInput, is fewer pixels than the
// tiles that would run (those the memo cannot answer). Tiles overlap by a
// quarter each way and are padded to the input, so a frame is often half
// the pixels of its tiles, and no text is cut by a tile's edge.
func (t *tiler) mergedInput(roi image.Rectangle, tiles []tile, stale int, in image.Point) (image.Point, bool) {
	a := t.anyInput
	if a <= 0 || len(tiles) < 2 || stale == 0 {
		return image.Point{}, false
	}
	z := tiles[0].scale
	up := func(v int) int { return max(a, (v+a-1)/a*a) }
	size := image.Pt(up(int(math.Round(float64(roi.Dx())*z))), up(int(math.Round(float64(roi.Dy())*z))))
	px := size.X * size.Y
	if px > maxMergedPixels || px >= stale*in.X*in.Y {
		return image.Point{}, false
	}
	return size, true
}

// within returns the boxes of dets inside src, cut to it: what a tile run
// over src alone would have kept, for the memo.
func within(dets []Detection, src image.Rectangle) []Detection {
	var out []Detection
	for _, d := range dets {
		if b := d.Box.Intersect(src); !b.Empty() {
			d.Box = b
			out = append(out, d)
		}
	}
	return out
}

func (t *tiler) runTile(img gocv.Mat, src image.Rectangle, scale float64, in image.Point) ([]Detection, error) {
	sw := min(in.X, max(1, int(math.Round(float64(src.Dx())*scale))))
	sh := min(in.Y, max(1, int(math.Round(float64(src.Dy())*scale))))
	region := img.Region(src)
	gocv.Resize(region, &t.scaled, image.Pt(sw, sh), 0, 0, gocv.InterpolationLinear)
	region.Close()
	// The padding is not wasted work. Measured (bench/README.md): a 16:9
	// frame shrunk into PP-OCR's input (zoom 0) through one sized to it
	// (640x384) instead of padded to 640x640 is 35 % faster, but finds
	// fewer plates: 0.899 against 0.939 on plates, 0.484 against 0.574 on
	// plates-small. (At full resolution, a merged input shaped like the
	// frame finds more than its tiles: mergedInput.)
	gocv.CopyMakeBorder(t.scaled, &t.padded, 0, in.Y-sh, 0, in.X-sw, gocv.BorderConstant, color.RGBA{})
	if t.padded.Cols() != in.X || t.padded.Rows() != in.Y {
		return nil, fmt.Errorf("detect: padded tile is %dx%d, want %dx%d", t.padded.Cols(), t.padded.Rows(), in.X, in.Y)
	}
	dets, err := t.net.infer(t.padded)
	if err != nil {
		return nil, err
	}
	// Map back: real factors per axis (rounding made them differ slightly).
	fx := float64(sw) / float64(src.Dx())
	fy := float64(sh) / float64(src.Dy())
	valid := image.Rect(0, 0, sw, sh)
	keep := dets[:0]
	for _, d := range dets {
		b := d.Box.Intersect(valid)
		if b.Empty() {
			continue
		}
		d.Box = image.Rect(
			src.Min.X+int(math.Floor(float64(b.Min.X)/fx)),
			src.Min.Y+int(math.Floor(float64(b.Min.Y)/fy)),
			src.Min.X+int(math.Ceil(float64(b.Max.X)/fx)),
			src.Min.Y+int(math.Ceil(float64(b.Max.Y)/fy)),
		).Intersect(src)
		if !d.Box.Empty() {
			keep = append(keep, d)
		}
	}
	return keep, nil
}

// floatData is a float32 Mat's data (not a copy), checking its element count.
func floatData(m gocv.Mat, want int) ([]float32, error) {
	if m.Empty() {
		return nil, errors.New("detect: network returned an empty output")
	}
	d, err := m.DataPtrFloat32()
	if err != nil {
		return nil, fmt.Errorf("detect: network output: %w", err)
	}
	if want > 0 && len(d) < want {
		return nil, fmt.Errorf("detect: network output has %d values, want %d", len(d), want)
	}
	return d, nil
}

// values checks that a network output holds at least want values.
func values(name string, d []float32, want int) ([]float32, error) {
	if len(d) < want {
		return nil, fmt.Errorf("detect: network output %s has %d values, want %d", name, len(d), want)
	}
	return d, nil
}
