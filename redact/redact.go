// Package redact destroys regions of a frame and defines Frame, the only type
// that sinks (encoders, file writers, network senders) accept. A Frame can only
// be made here, by Redactor.Apply or Blackout, so "no raw pixel leaves the
// process" is a property of the types: code holding a raw gocv.Mat has no way
// to hand it to a sink.
package redact

import (
	"fmt"
	"image"
	"image/color"
	"iter"
	"math"
	"strings"

	"gocv.io/x/gocv"
)

// Style is how a region is destroyed.
type Style uint8

// Styles. Pixelate is the default.
const (
	Pixelate Style = iota
	Blur
	Fill
)

func (s Style) String() string {
	switch s {
	case Pixelate:
		return "pixelate"
	case Blur:
		return "blur"
	case Fill:
		return "fill"
	}
	return fmt.Sprintf("style(%d)", uint8(s))
}

// MarshalText writes the style's name (for JSON reports and config).
func (s Style) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a style name.
func (s *Style) UnmarshalText(b []byte) error {
	v, err := ParseStyle(string(b))
	if err == nil {
		*s = v
	}
	return err
}

// ParseStyle reads "pixelate", "blur" or "fill".
func ParseStyle(s string) (Style, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "pixelate", "pixel", "mosaic", "":
		return Pixelate, nil
	case "blur", "gaussian":
		return Blur, nil
	case "fill", "solid", "black":
		return Fill, nil
	}
	return 0, fmt.Errorf("unknown redaction style %q (want pixelate, blur or fill)", s)
}

// Cells is how many blocks span the longer side of a region: a face becomes
// at most Cells x Cells colours, whatever its size, so strength scales with the
// region and a large face is not left with recoverable detail.
const Cells = 6

// Redactor destroys regions in place. It keeps scratch Mats between calls and
// is not safe for concurrent use.
type Redactor struct {
	Style   Style
	Color   color.RGBA        // for Fill
	grid    gocv.Mat          // Cells x Cells: a blurred region's cell means
	fine    gocv.Mat          // the means spread over a finer grid and smoothed
	clipped []image.Rectangle // scratch: the boxes clipped to the frame
	sums    []uint64          // scratch for pixelateBytes: a row of cells' sums
	row     []byte            // and its painted row
}

// New returns a Redactor of the given style.
func New(s Style) *Redactor {
	return &Redactor{Style: s, Color: color.RGBA{A: 255},
		grid: gocv.NewMatWithSize(Cells, Cells, gocv.MatTypeCV8UC3), fine: gocv.NewMat()}
}

// Close frees the scratch Mats.
func (r *Redactor) Close() error {
	r.grid.Close()
	return r.fine.Close()
}

// Frame is a frame in which every region found was destroyed (or the whole
// picture was masked). It owns its Mat.
type Frame struct {
	mat     gocv.Mat
	regions int
	masked  bool
}

// Apply destroys boxes in raw and returns the result as a Frame. Ownership of
// raw passes to the Frame: the caller must not use raw afterwards. Boxes are
// clipped to the frame; empty ones are skipped.
func (r *Redactor) Apply(raw gocv.Mat, boxes []image.Rectangle) (Frame, error) {
	if raw.Empty() || raw.Type() != gocv.MatTypeCV8UC3 {
		// Fail closed: something we cannot redact is not passed on.
		return Blackout(raw), fmt.Errorf("redact: frame is empty or not 8-bit BGR")
	}
	n := r.destroy(raw, boxes)
	return Frame{mat: raw, regions: n}, nil
}

// Destroy redacts boxes in img in place and returns how many were non-empty.
// It is for tools that judge redaction (eval, tests); pipelines use Apply.
func (r *Redactor) Destroy(img gocv.Mat, boxes []image.Rectangle) int {
	if img.Empty() || img.Type() != gocv.MatTypeCV8UC3 {
		return 0
	}
	return r.destroy(img, boxes)
}

// destroy redacts each non-empty box but those inside another: the larger
// box's cells are at least as coarse (a cell is a sixth of the longer side),
// so destroying it destroys them too. In guard mode a face moving inside a
// changed area, and areas nested in each other's bounds, are common (about
// a sixth of the area destroyed on the busy 1080p clip was destroyed twice).
func (r *Redactor) destroy(img gocv.Mat, boxes []image.Rectangle) int {
	bounds := image.Rect(0, 0, img.Cols(), img.Rows())
	r.clipped = r.clipped[:0]
	for _, b := range boxes {
		if b = b.Canon().Intersect(bounds); !b.Empty() {
			r.clipped = append(r.clipped, b)
		}
	}
	var buf []byte // the frame's pixels, pixelated in one pass (pixelateBytes)
	if r.Style == Pixelate && img.IsContinuous() {
		if b, err := img.DataPtrUint8(); err == nil && len(b) == bounds.Dx()*bounds.Dy()*3 {
			buf = b
		}
	}
	for i, b := range r.clipped {
		if inAnother(r.clipped, i) {
			continue
		}
		if buf != nil {
			r.pixelateBytes(buf, bounds.Dx()*3, b)
			continue
		}
		roi := img.Region(b)
		switch r.Style {
		case Fill:
			roi.SetTo(gocv.NewScalar(float64(r.Color.B), float64(r.Color.G), float64(r.Color.R), 0))
		case Blur:
			r.blur(roi, b)
		default:
			r.pixelate(roi, b)
		}
		roi.Close()
	}
	return len(r.clipped)
}

// inAnother reports whether boxes[i] lies inside another of boxes (of two
// equal boxes, the later one).
func inAnother(boxes []image.Rectangle, i int) bool {
	b := boxes[i]
	for j, o := range boxes {
		if j != i && b.In(o) && (b != o || j < i) {
			return true
		}
	}
	return false
}

// cellGrid is the number of cells across and down for a w x h region: cells
// a sixth of the longer side, and never under 2 pixels a side where the
// region has 2 (a 3-pixel side is one cell, not a 2-pixel and a 1-pixel one).
func cellGrid(w, h int) (int, int) {
	side := max(w, h)
	cell := max(2, int(math.Ceil(float64(side)/Cells)))
	return max(1, min((w+cell-1)/cell, w/2)), max(1, min((h+cell-1)/cell, h/2))
}

// pixelate paints each cell of the region with its own mean colour, in
// OpenCV, for a frame whose rows are not packed (pixelateBytes does the
// same in one pass of C for those that are, every camera frame). The cells split the region
// evenly (their sides differ by at most a pixel). This costs about a fifth
// of the CPU of an area resize down and a nearest resize up, which for a
// non-integer scale takes OpenCV's slow, multi-threaded path
// (BenchmarkRedactGuard1080p).
func (r *Redactor) pixelate(roi gocv.Mat, b image.Rectangle) {
	for c := range cells(b) {
		cell := roi.Region(c.Sub(b.Min))
		cell.SetTo(cell.Mean())
		cell.Close()
	}
}

// cells yields the cells of b (cellGrid's), in b's coordinates, row by row:
// they split b evenly, their sides differing by at most a pixel.
func cells(b image.Rectangle) iter.Seq[image.Rectangle] {
	return func(yield func(image.Rectangle) bool) {
		w, h := b.Dx(), b.Dy()
		cx, cy := cellGrid(w, h)
		for j := range cy {
			y0, y1 := b.Min.Y+j*h/cy, b.Min.Y+(j+1)*h/cy
			for i := range cx {
				if !yield(image.Rect(b.Min.X+i*w/cx, y0, b.Min.X+(i+1)*w/cx, y1)) {
					return
				}
			}
		}
	}
}

// blur paints the region from its cells' means alone (pixelate's cells, so
// no detail finer than a cell survives: nothing left to deconvolve),
// smoothed: the means are spread linearly over a grid at most blurStep
// pixels a cell, blurred there by a Gaussian about a third of a cell wide,
// and that grid resized linearly to the region. It reads no pixel outside
// the region. Blurring the region itself at full size (the way this was
// done first) cost 42 ms of CPU for a 1080p guard frame
// (BenchmarkRedactGuard1080p), more than a frame's time at 30 fps; this
// costs about as much as pixelation.
func (r *Redactor) blur(roi gocv.Mat, b image.Rectangle) {
	cx, cy := cellGrid(b.Dx(), b.Dy())
	grid, err := r.grid.DataPtrUint8()
	if err != nil {
		roi.SetTo(gocv.NewScalar(0, 0, 0, 0)) // fail closed
		return
	}
	i := 0
	for c := range cells(b) {
		cell := roi.Region(c.Sub(b.Min))
		m := cell.Mean()
		cell.Close()
		o := (i/cx)*Cells*3 + (i%cx)*3
		grid[o], grid[o+1], grid[o+2] = roundByte(m.Val1), roundByte(m.Val2), roundByte(m.Val3)
		i++
	}
	means := r.grid.Region(image.Rect(0, 0, cx, cy))
	defer means.Close()
	fine := image.Pt(min(b.Dx(), cx*blurStep), min(b.Dy(), cy*blurStep))
	gocv.Resize(means, &r.fine, fine, 0, 0, gocv.InterpolationLinear)
	k := (max(fine.X, fine.Y)/Cells)*2 + 1 // odd, as OpenCV demands
	if k >= 3 {
		gocv.GaussianBlur(r.fine, &r.fine, image.Pt(k, k), 0, 0, gocv.BorderReflect)
	}
	gocv.Resize(r.fine, &roi, image.Pt(b.Dx(), b.Dy()), 0, 0, gocv.InterpolationLinear)
}

// blurStep is the most pixels a cell spans in the grid blur smooths.
const blurStep = 8

// roundByte rounds a channel mean to a byte, half to even as OpenCV does.
func roundByte(v float64) byte {
	return byte(math.RoundToEven(min(255, max(0, v))))
}

// Blackout masks the whole of raw (fail closed: used when detection failed or
// came too late) and returns it as a Frame. An empty raw stays empty; sinks
// skip empty frames.
func Blackout(raw gocv.Mat) Frame {
	if !raw.Empty() {
		raw.SetTo(gocv.NewScalar(0, 0, 0, 0))
	}
	return Frame{mat: raw, masked: true}
}

// Mat returns the redacted picture for reading (encoding, writing). Sinks must
// not modify or keep it past Close.
func (f *Frame) Mat() gocv.Mat { return f.mat }

// Regions is the number of regions destroyed.
func (f *Frame) Regions() int { return f.regions }

// Masked reports whether the whole frame was masked (fail closed).
func (f *Frame) Masked() bool { return f.masked }

// Empty reports whether there is no picture.
func (f *Frame) Empty() bool { return f.mat.Empty() }

// Close frees the frame's Mat.
func (f *Frame) Close() error { return f.mat.Close() }

// Release hands the frame's Mat back to the caller for reuse as a capture
// buffer (its content is redacted, so nothing leaks through reuse). The Frame
// must not be used afterwards.
func (f *Frame) Release() gocv.Mat { return f.mat }

// MaskPolygons fills each polygon (privacy zones: windows of homes, a
// neighbour's garden) with black. Polygons are in pixels and clipped by
// OpenCV; fewer than three points are skipped. More masking of a redacted
// frame keeps it redacted.
func (f *Frame) MaskPolygons(polys [][]image.Point) {
	if f.mat.Empty() {
		return
	}
	ok := polys[:0:0]
	for _, p := range polys {
		if len(p) >= 3 {
			ok = append(ok, p)
		}
	}
	if len(ok) == 0 {
		return
	}
	pv := gocv.NewPointsVectorFromPoints(ok)
	defer pv.Close()
	gocv.FillPoly(&f.mat, pv, color.RGBA{A: 255})
	f.regions += len(ok)
}

// ScaleInto resizes the redacted picture into dst (w x h, even sizes) and
// returns it as a Frame that owns dst. Scaling redacted pixels cannot bring
// back what was destroyed. f keeps its own Mat.
func (f *Frame) ScaleInto(dst gocv.Mat, w, h int) (Frame, error) {
	if f.mat.Empty() || w <= 0 || h <= 0 || w > 16384 || h > 16384 {
		return Frame{mat: dst}, fmt.Errorf("redact: cannot scale %dx%d to %dx%d", f.mat.Cols(), f.mat.Rows(), w, h)
	}
	interp := gocv.InterpolationArea
	if w > f.mat.Cols() {
		interp = gocv.InterpolationLinear
	}
	gocv.Resize(f.mat, &dst, image.Pt(w, h), 0, 0, interp)
	return Frame{mat: dst, regions: f.regions, masked: f.masked}, nil
}
