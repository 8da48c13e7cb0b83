package eval

import "image"

// Rules for "destroyed", judged from pixels: a pixel is destroyed when any
// channel differs from the input by more than PixelDelta.
const (
	PixelDelta = 2
	// FaceCover is the share of a face box's pixels that must be destroyed.
	// Lenient on purpose: annotated boxes are offset on some images (see the
	// data README); most of the face gone means the face is gone.
	FaceCover = 0.7
	// PlateCover is the share of a plate's inner box (the annotated box less
	// 10 % each side, where the characters are) that must be destroyed, and
	// PlateColumn the share of every single column of it: a readable remnant
	// between two text boxes fails the column rule.
	PlateCover  = 0.9
	PlateColumn = 0.6
)

// Diff is a per-pixel destroyed mask of one image.
type Diff struct {
	W, H int
	mask []bool
}

// NewDiff compares two BGR images of w x h given as packed bytes.
func NewDiff(in, out []byte, w, h int) Diff {
	d := Diff{W: w, H: h, mask: make([]bool, w*h)}
	if len(in) < w*h*3 || len(out) < w*h*3 {
		return d
	}
	for i := range d.mask {
		j := i * 3
		d.mask[i] = absDiff(in[j], out[j]) > PixelDelta || absDiff(in[j+1], out[j+1]) > PixelDelta || absDiff(in[j+2], out[j+2]) > PixelDelta
	}
	return d
}

func absDiff(a, b byte) byte {
	if a > b {
		return a - b
	}
	return b - a
}

// Cover is the destroyed share of r (clipped to the image).
func (d Diff) Cover(r image.Rectangle) float64 {
	r = r.Intersect(image.Rect(0, 0, d.W, d.H))
	if r.Empty() {
		return 0
	}
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if d.mask[y*d.W+x] {
				n++
			}
		}
	}
	return float64(n) / float64(r.Dx()*r.Dy())
}

// MinColumn is the smallest destroyed share over the columns of r.
func (d Diff) MinColumn(r image.Rectangle) float64 {
	r = r.Intersect(image.Rect(0, 0, d.W, d.H))
	if r.Empty() {
		return 0
	}
	worst := 1.0
	for x := r.Min.X; x < r.Max.X; x++ {
		n := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			if d.mask[y*d.W+x] {
				n++
			}
		}
		worst = min(worst, float64(n)/float64(r.Dy()))
	}
	return worst
}

// Outside counts destroyed pixels and all pixels outside every box.
func (d Diff) Outside(boxes []image.Rectangle) (destroyed, total int) {
	inBox := make([]bool, len(d.mask))
	for _, b := range boxes {
		b = b.Intersect(image.Rect(0, 0, d.W, d.H))
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				inBox[y*d.W+x] = true
			}
		}
	}
	for i, m := range d.mask {
		if inBox[i] {
			continue
		}
		total++
		if m {
			destroyed++
		}
	}
	return destroyed, total
}

// Inner is a plate box less 10 % of its size on each side.
func Inner(r image.Rectangle) image.Rectangle {
	dx, dy := r.Dx()/10, r.Dy()/10
	in := image.Rect(r.Min.X+dx, r.Min.Y+dy, r.Max.X-dx, r.Max.Y-dy)
	if in.Empty() {
		return r
	}
	return in
}

// Destroyed judges one annotated box.
func (d Diff) Destroyed(k Kind, r image.Rectangle) bool {
	if k == Plates {
		in := Inner(r)
		return d.Cover(in) >= PlateCover && d.MinColumn(in) >= PlateColumn
	}
	return d.Cover(r) >= FaceCover
}
