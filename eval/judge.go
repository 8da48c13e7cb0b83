package eval

import "image"

// Rules for "destroyed", judged from pixels: a pixel is destroyed when any
// channel differs from the input by more than PixelDelta, or when the output
// is flat around it (equal to its right, lower and lower-right neighbours)
// where the input was not: pixelation leaves a pixel that happens to equal
// its cell's mean unchanged, but what that pixel told is gone.
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
	// DetailLeft: a region (or a plate column) also counts as destroyed when
	// the output keeps at most this share of the input's detail (the sum of
	// absolute differences between neighbouring pixels). Pixelation leaves
	// flat parts of a plate unchanged to the pixel, but no character edge
	// survives it; an untouched character keeps all of its detail.
	DetailLeft = 0.3
)

// Diff is a per-pixel destroyed mask of one image.
type Diff struct {
	W, H    int
	mask    []bool
	in, out []int16 // grey (B+G+R) per pixel
}

// NewDiff compares two BGR images of w x h given as packed bytes.
func NewDiff(in, out []byte, w, h int) Diff {
	d := Diff{W: w, H: h, mask: make([]bool, w*h), in: make([]int16, w*h), out: make([]int16, w*h)}
	if len(in) < w*h*3 || len(out) < w*h*3 {
		return d
	}
	for i := range d.mask {
		j := i * 3
		d.in[i] = int16(in[j]) + int16(in[j+1]) + int16(in[j+2])
		d.out[i] = int16(out[j]) + int16(out[j+1]) + int16(out[j+2])
		d.mask[i] = absDiff(in[j], out[j]) > PixelDelta || absDiff(in[j+1], out[j+1]) > PixelDelta || absDiff(in[j+2], out[j+2]) > PixelDelta
	}
	for y := 0; y+1 < h; y++ {
		for x := 0; x+1 < w; x++ {
			i := y*w + x
			if !d.mask[i] && flat(out, w, x, y) && !flat(in, w, x, y) {
				d.mask[i] = true
			}
		}
	}
	return d
}

// flat reports whether pixel (x,y) of a packed BGR image equals its right,
// lower and lower-right neighbours in every channel.
func flat(b []byte, w, x, y int) bool {
	i := (y*w + x) * 3
	for _, j := range [3]int{i + 3, i + w*3, i + w*3 + 3} {
		if b[i] != b[j] || b[i+1] != b[j+1] || b[i+2] != b[j+2] {
			return false
		}
	}
	return true
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

// detail sums absolute differences between neighbouring pixels of g inside r.
func (d Diff) detail(g []int16, r image.Rectangle) int {
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			v := g[y*d.W+x]
			if x+1 < r.Max.X {
				n += absInt(int(g[y*d.W+x+1]) - int(v))
			}
			if y+1 < r.Max.Y {
				n += absInt(int(g[(y+1)*d.W+x]) - int(v))
			}
		}
	}
	return n
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// DetailKept is the share of the input's detail inside r that the output
// still has (1 when the input has none).
func (d Diff) DetailKept(r image.Rectangle) float64 {
	r = r.Intersect(image.Rect(0, 0, d.W, d.H))
	if r.Empty() || len(d.in) == 0 {
		return 1
	}
	din := d.detail(d.in, r)
	if din == 0 {
		return 1
	}
	return float64(d.detail(d.out, r)) / float64(din)
}

// columnsDestroyed reports whether every column of r is destroyed: changed
// enough, or stripped of its detail, or with no detail to read (a gap).
func (d Diff) columnsDestroyed(r image.Rectangle) bool {
	r = r.Intersect(image.Rect(0, 0, d.W, d.H))
	if r.Empty() {
		return false
	}
	for x := r.Min.X; x < r.Max.X; x++ {
		// The column and its right neighbour, so horizontal edges count.
		col := image.Rect(x, r.Min.Y, min(x+2, r.Max.X), r.Max.Y)
		if d.Cover(image.Rect(x, r.Min.Y, x+1, r.Max.Y)) >= PlateColumn {
			continue
		}
		if d.detail(d.in, col) == 0 || d.DetailKept(col) <= DetailLeft {
			continue
		}
		return false
	}
	return true
}

// Destroyed judges one annotated box.
func (d Diff) Destroyed(k Kind, r image.Rectangle) bool {
	if k == Plates {
		in := Inner(r)
		whole := d.Cover(in) >= PlateCover || d.DetailKept(in) <= DetailLeft
		return whole && d.columnsDestroyed(in)
	}
	return d.Cover(r) >= FaceCover
}
