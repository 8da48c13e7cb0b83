package redact

import (
	"image"
	"math/rand/v2"
	"slices"
	"testing"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/internal/testenv"
)

// noise is a w x h BGR Mat of random pixels: every pixel differs from its
// neighbours, so any detail left is visible to the checks below.
func noise(w, h int, seed uint64) gocv.Mat {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, w*h*3)
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	m, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, b)
	if err != nil {
		panic(err)
	}
	c := m.Clone() // own the memory, not the Go slice
	m.Close()
	return c
}

// distinct counts distinct colours in r.
func distinct(m gocv.Mat, r image.Rectangle) int {
	seen := map[[3]uint8]bool{}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			v := m.GetVecbAt(y, x)
			seen[[3]uint8{v[0], v[1], v[2]}] = true
		}
	}
	return len(seen)
}

func TestStylesDestroyBoxAndLeaveRest(t *testing.T) {
	box := image.Rect(100, 60, 220, 200) // 120x140
	tests := []struct {
		style Style
		// most distinct colours allowed in the box afterwards
		maxColours int
	}{
		{Pixelate, Cells * Cells},
		{Fill, 1},
		{Blur, 120 * 140 / 4},
	}
	for _, tt := range tests {
		t.Run(tt.style.String(), func(t *testing.T) {
			orig := noise(320, 240, 7)
			defer orig.Close()
			r := New(tt.style)
			defer r.Close()
			f, err := r.Apply(orig.Clone(), []image.Rectangle{box, image.Rect(-50, -50, 5, 5)})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			out := f.Mat()
			if f.Regions() != 2 {
				t.Errorf("Regions = %d, want 2 (the off-frame box is clipped, not dropped)", f.Regions())
			}
			if n := distinct(out, box); n > tt.maxColours {
				t.Errorf("%d distinct colours left in the box, want <= %d", n, tt.maxColours)
			}
			// Blur: neighbouring pixels must be nearly equal (no noise left).
			if tt.style == Blur {
				diff := 0
				for y := box.Min.Y; y < box.Max.Y; y++ {
					for x := box.Min.X + 1; x < box.Max.X; x++ {
						a, b := out.GetVecbAt(y, x), out.GetVecbAt(y, x-1)
						if d := int(a[0]) - int(b[0]); d > 12 || d < -12 {
							diff++
						}
					}
				}
				if diff > box.Dx()*box.Dy()/50 {
					t.Errorf("%d sharp edges left in the blurred box", diff)
				}
			}
			// Outside the boxes nothing changed.
			for y := 0; y < 240; y++ {
				for x := 0; x < 320; x++ {
					if image.Pt(x, y).In(box) || image.Pt(x, y).In(image.Rect(0, 0, 5, 5)) {
						continue
					}
					if a, b := orig.GetVecbAt(y, x), out.GetVecbAt(y, x); a[0] != b[0] || a[1] != b[1] || a[2] != b[2] {
						t.Fatalf("pixel (%d,%d) outside the boxes changed", x, y)
					}
				}
			}
		})
	}
}

// A blurred region is made from its cells' means alone: the same region
// with every cell already painted its mean, and different pixels all
// around it, blurs to the same pixels. (Blurring the region in place read
// up to half a cell beyond it, where another box not yet destroyed may be.)
func TestBlurSeesOnlyCellMeans(t *testing.T) {
	for _, box := range []image.Rectangle{
		image.Rect(100, 60, 220, 200), image.Rect(0, 0, 37, 23), image.Rect(300, 230, 320, 240),
		image.Rect(10, 10, 13, 200), image.Rect(50, 50, 51, 52),
	} {
		a, b := noise(320, 240, 11), noise(320, 240, 12)
		p := New(Pixelate)
		roi := a.Region(box)
		p.pixelate(roi, box) // each cell its mean, in OpenCV (whatever the cell size)
		roi.Close()
		p.Close()
		inside := a.Region(box)
		target := b.Region(box)
		inside.CopyTo(&target) // b: a's cell means inside the box, other noise around it
		inside.Close()
		target.Close()
		orig := noise(320, 240, 11)
		r := New(Blur)
		r.Destroy(orig, []image.Rectangle{box})
		r.Destroy(b, []image.Rectangle{box})
		r.Close()
		for y := box.Min.Y; y < box.Max.Y; y++ {
			for x := box.Min.X; x < box.Max.X; x++ {
				if u, v := orig.GetVecbAt(y, x), b.GetVecbAt(y, x); !slices.Equal(u, v) {
					t.Fatalf("box %v: pixel (%d,%d) is %v from the noise, %v from its cell means", box, x, y, u, v)
				}
			}
		}
		a.Close()
		b.Close()
		orig.Close()
	}
}

func TestStrengthScalesWithRegion(t *testing.T) {
	sizes := []int{200, 333, 600, 1080}
	for n := 1; n <= 64; n++ {
		sizes = append(sizes, n)
	}
	for _, w := range sizes {
		for _, h := range sizes {
			cx, cy := cellGrid(w, h)
			if cx < 1 || cy < 1 || cx > Cells || cy > Cells {
				t.Fatalf("%dx%d region: %dx%d cells, want 1 to %d across and down", w, h, cx, cy, Cells)
			}
			if (w >= 2 && w/cx < 2) || (h >= 2 && h/cy < 2) {
				t.Fatalf("%dx%d region: %dx%d cells, some under 2 px a side", w, h, cx, cy)
			}
		}
	}
}

// Pixelate leaves each cell one colour, the mean of the pixels it covered:
// no detail finer than a cell survives, and cells have at least 2 pixels a
// side (odd, tiny and clipped boxes included).
func TestPixelateCellsAreMeans(t *testing.T) {
	boxes := []image.Rectangle{
		image.Rect(10, 10, 131, 97),    // odd sides: uneven cells
		image.Rect(150, 20, 153, 23),   // 3x3: one cell
		image.Rect(160, 20, 165, 22),   // 5x2
		image.Rect(170, 20, 171, 60),   // 1 px wide
		image.Rect(290, 200, 340, 260), // clipped by the frame to 30x40
		image.Rect(10, 100, 250, 238),  // large cells
	}
	orig := noise(320, 240, 11)
	defer orig.Close()
	r := New(Pixelate)
	defer r.Close()
	f, err := r.Apply(orig.Clone(), boxes)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := f.Mat()
	for _, b := range boxes {
		b = b.Intersect(image.Rect(0, 0, 320, 240))
		// Judged without the cells' layout: in noise, a pixel that kept its
		// value differs from all its neighbours, one painted over shares its
		// colour with a neighbour in the box (where the box has one).
		same := func(x, y, x2, y2 int) bool {
			if !image.Pt(x2, y2).In(b) {
				return false
			}
			a, c := out.GetVecbAt(y, x), out.GetVecbAt(y2, x2)
			return a[0] == c[0] && a[1] == c[1] && a[2] == c[2]
		}
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				if b.Dx()*b.Dy() > 1 && !same(x, y, x-1, y) && !same(x, y, x+1, y) && !same(x, y, x, y-1) && !same(x, y, x, y+1) {
					t.Fatalf("box %v: pixel (%d,%d) shares its colour with no neighbour: left as it was", b, x, y)
				}
			}
		}
		w, h := b.Dx(), b.Dy()
		cx, cy := cellGrid(w, h)
		for j := range cy {
			for i := range cx {
				c := image.Rect(b.Min.X+i*w/cx, b.Min.Y+j*h/cy, b.Min.X+(i+1)*w/cx, b.Min.Y+(j+1)*h/cy)
				if (w >= 2 && c.Dx() < 2) || (h >= 2 && c.Dy() < 2) {
					t.Errorf("box %v: cell %v under 2 px a side", b, c)
				}
				var sum [3]float64
				for y := c.Min.Y; y < c.Max.Y; y++ {
					for x := c.Min.X; x < c.Max.X; x++ {
						v := orig.GetVecbAt(y, x)
						for k := range 3 {
							sum[k] += float64(v[k])
						}
					}
				}
				n := float64(c.Dx() * c.Dy())
				for y := c.Min.Y; y < c.Max.Y; y++ {
					for x := c.Min.X; x < c.Max.X; x++ {
						v := out.GetVecbAt(y, x)
						for k := range 3 {
							if d := float64(v[k]) - sum[k]/n; d > 0.51 || d < -0.51 {
								t.Fatalf("box %v, cell %v, pixel (%d,%d) channel %d: %d, want the cell's mean %.2f", b, c, x, y, k, v[k], sum[k]/n)
							}
						}
					}
				}
			}
		}
	}
}

// A frame whose rows are packed is pixelated in one pass of C on its
// bytes, one whose rows are not (a view of a wider frame) in OpenCV: the two
// paths give the same frame, byte for byte, for small and large cells.
func TestPixelatePathsAgree(t *testing.T) {
	boxes := []image.Rectangle{
		image.Rect(3, 4, 60, 41), image.Rect(100, 10, 103, 13), image.Rect(70, 50, 300, 230),
		image.Rect(250, 0, 330, 30), image.Rect(20, 150, 60, 239),
	}
	orig := noise(320, 240, 5)
	defer orig.Close()
	packed := orig.Clone()
	defer packed.Close()
	r := New(Pixelate)
	defer r.Close()
	r.Destroy(packed, boxes)
	// The same picture as the left part of a wider Mat: its rows are not
	// packed, so every box goes through OpenCV.
	wide := gocv.NewMatWithSize(240, 330, gocv.MatTypeCV8UC3)
	defer wide.Close()
	view := wide.Region(image.Rect(0, 0, 320, 240))
	defer view.Close()
	orig.CopyTo(&view)
	if view.IsContinuous() {
		t.Fatal("the view's rows are packed: the test would not reach OpenCV's path")
	}
	r.Destroy(view, boxes)
	for y := range 240 {
		for x := range 320 {
			if a, b := packed.GetVecbAt(y, x), view.GetVecbAt(y, x); a[0] != b[0] || a[1] != b[1] || a[2] != b[2] {
				t.Fatalf("pixel (%d,%d): %v in C, %v in OpenCV", x, y, a, b)
			}
		}
	}
	if d := distinct(packed, boxes[2]); d > Cells*Cells {
		t.Errorf("%d colours left in %v", d, boxes[2])
	}
}

// The C path (pixelateBytes) and OpenCV's (pixelate), each called on its
// own copy of a frame, give the same bytes: over random boxes of every size,
// and on cells whose mean is a tie (1.5 and 2.5 both round to 2, as
// OpenCV's cvRound rounds half to even).
func TestPixelateBytesMatchesOpenCV(t *testing.T) {
	const w, h = 320, 240
	rng := rand.New(rand.NewPCG(9, 9))
	r := New(Pixelate)
	defer r.Close()
	for seed := range 20 {
		orig := noise(w, h, uint64(seed))
		// Ties: 2x1 boxes at the top left of one cell each.
		for i, v := range [][2]uint8{{1, 2}, {2, 3}, {254, 255}} {
			for k := range 2 {
				orig.SetUCharAt(0, (i*2+k)*3, v[k])
			}
		}
		boxes := []image.Rectangle{image.Rect(0, 0, 2, 1), image.Rect(2, 0, 4, 1), image.Rect(4, 0, 6, 1)}
		for range 20 {
			x, y := rng.IntN(w-1), 1+rng.IntN(h-2)
			boxes = append(boxes, image.Rect(x, y, x+1+rng.IntN(w-x), y+1+rng.IntN(h-y)))
		}
		goMat, cvMat := orig.Clone(), orig.Clone()
		buf, err := goMat.DataPtrUint8()
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range boxes {
			r.pixelateBytes(buf, w*3, b)
			roi := cvMat.Region(b)
			r.pixelate(roi, b)
			roi.Close()
		}
		for i, want := range []uint8{2, 2, 254} {
			if got := goMat.GetUCharAt(0, i*6); got != want {
				t.Errorf("tie %d: %d in C, want %d", i, got, want)
			}
		}
		for y := range h {
			for x := range w {
				if a, b := goMat.GetVecbAt(y, x), cvMat.GetVecbAt(y, x); a[0] != b[0] || a[1] != b[1] || a[2] != b[2] {
					t.Fatalf("seed %d, pixel (%d,%d): %v in C, %v in OpenCV", seed, x, y, a, b)
				}
			}
		}
		orig.Close()
		goMat.Close()
		cvMat.Close()
	}
}

func TestRoundByte(t *testing.T) {
	for _, tt := range []struct {
		v    float64
		want byte
	}{{0.5, 0}, {1.5, 2}, {2.5, 2}, {3.5, 4}, {0, 0}, {255, 255}, {10.0 / 3, 3}, {11.0 / 3, 4}, {254.5, 254}} {
		if got := roundByte(tt.v); got != tt.want {
			t.Errorf("roundByte(%v) = %d, want %d", tt.v, got, tt.want)
		}
	}
}

func TestApplyBadFrameFailsClosed(t *testing.T) {
	r := New(Pixelate)
	defer r.Close()
	gray := gocv.NewMatWithSize(10, 10, gocv.MatTypeCV8UC1)
	gray.SetTo(gocv.NewScalar(200, 0, 0, 0))
	f, err := r.Apply(gray, nil)
	if err == nil {
		t.Fatal("want an error for a non-BGR frame")
	}
	defer f.Close()
	if !f.Masked() {
		t.Error("a frame that cannot be redacted must come back masked")
	}
	m := f.Mat()
	if v := m.GetUCharAt(5, 5); v != 0 {
		t.Errorf("masked frame pixel = %d, want 0", v)
	}
}

// A box inside another is destroyed by the other's coarser cells: the
// frame is the same as with the outer box alone, and counts both.
func TestNestedBoxes(t *testing.T) {
	outer, inner := image.Rect(40, 40, 200, 220), image.Rect(90, 100, 130, 150)
	for _, s := range []Style{Pixelate, Blur, Fill} {
		t.Run(s.String(), func(t *testing.T) {
			r := New(s)
			defer r.Close()
			src, want, got := noise(320, 240, 5), noise(320, 240, 5), gocv.NewMat()
			defer src.Close()
			defer want.Close()
			defer got.Close()
			r.Destroy(want, []image.Rectangle{outer})
			for _, boxes := range [][]image.Rectangle{
				{inner, outer, inner, image.Rect(-10, -10, 0, 0)},
				{outer, outer, inner.Add(image.Pt(0, 500))}, // an equal box, and one off the frame
			} {
				src.CopyTo(&got)
				if n := r.Destroy(got, boxes); n != len(boxes)-1 {
					t.Errorf("%v: %d regions, want %d", boxes, n, len(boxes)-1)
				}
				diff := gocv.NewMat()
				gocv.AbsDiff(want, got, &diff)
				if c := gocv.CountNonZero(diff.Reshape(1, 0)); c != 0 {
					t.Errorf("%v: %d values differ from the outer box alone", boxes, c)
				}
				diff.Close()
			}
		})
	}
	// Overlapping but not nested: both are destroyed.
	r := New(Pixelate)
	defer r.Close()
	img := noise(320, 240, 9)
	defer img.Close()
	a, b := image.Rect(0, 0, 100, 100), image.Rect(50, 50, 160, 160)
	r.Destroy(img, []image.Rectangle{a, b})
	if d := distinct(img, image.Rect(100, 100, 160, 160)); d > 36 {
		t.Errorf("the second of two overlapping boxes: %d distinct colours in its own part, want it pixelated", d)
	}
}

func TestParseStyle(t *testing.T) {
	for in, want := range map[string]Style{"pixelate": Pixelate, "BLUR": Blur, "fill": Fill, "": Pixelate} {
		if got, err := ParseStyle(in); err != nil || got != want {
			t.Errorf("ParseStyle(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseStyle("sepia"); err == nil {
		t.Error("ParseStyle(sepia): want an error")
	}
}

// BenchmarkRedact720p measures destroying five face-sized regions in a
// 1280x720 frame once the regions are known (target: under 2 ms).
func BenchmarkRedact720p(b *testing.B) {
	boxes := []image.Rectangle{
		image.Rect(100, 100, 200, 220), image.Rect(400, 80, 480, 180), image.Rect(700, 300, 760, 370),
		image.Rect(900, 400, 1100, 640), image.Rect(50, 500, 130, 600),
	}
	for _, s := range []Style{Pixelate, Blur, Fill} {
		b.Run(s.String(), func(b *testing.B) { benchDestroy(b, s, 1280, 720, boxes) })
	}
}

// benchDestroy measures destroying boxes in a w x h frame of noise, per op
// in wall time, allocations and CPU.
func benchDestroy(b *testing.B, s Style, w, h int, boxes []image.Rectangle) {
	img := noise(w, h, 3)
	defer img.Close()
	r := New(s)
	defer r.Close()
	b.ReportAllocs()
	c0 := testenv.CPUTime()
	for b.Loop() {
		r.Destroy(img, boxes)
	}
	testenv.ReportCPU(b, c0)
}

// BenchmarkRedactGuard1080p is a guard-mode frame: five changed areas
// around walking people, each with the face detection found inside it, and
// two still plates (nested boxes are destroyed once), in each style.
func BenchmarkRedactGuard1080p(b *testing.B) {
	var boxes []image.Rectangle
	for i := range 5 {
		area := image.Rect(60+i*370, 300, 360+i*370, 860)
		boxes = append(boxes, area, image.Rect(area.Min.X+110, 330, area.Min.X+190, 420))
	}
	boxes = append(boxes, image.Rect(200, 950, 330, 990), image.Rect(1500, 940, 1640, 985))
	for _, s := range []Style{Pixelate, Blur, Fill} {
		b.Run(s.String(), func(b *testing.B) { benchDestroy(b, s, 1920, 1080, boxes) })
	}
}

// BenchmarkRedactManyAreas1080p is a guard frame of many small changed
// areas (256 of 20x20 px, as rain or leaves might give): small cells.
func BenchmarkRedactManyAreas1080p(b *testing.B) {
	var boxes []image.Rectangle
	for i := range 256 {
		x, y := (i%16)*110, (i/16)*60
		boxes = append(boxes, image.Rect(x, y, x+20, y+20))
	}
	benchDestroy(b, Pixelate, 1920, 1080, boxes)
}

// Privacy zones are filled black; the rest is untouched; scaling keeps the
// frame a redacted Frame of the asked size.
func TestMaskPolygonsAndScale(t *testing.T) {
	raw := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(200, 150, 100, 0), 100, 200, gocv.MatTypeCV8UC3)
	r := New(Pixelate)
	defer r.Close()
	f, err := r.Apply(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.MaskPolygons([][]image.Point{{{0, 0}, {50, 0}, {50, 50}, {0, 50}}, {{1, 1}, {2, 2}}}) // the second is not a polygon
	m := f.Mat()
	if v := m.GetVecbAt(10, 10); v[0] != 0 || v[1] != 0 || v[2] != 0 {
		t.Errorf("inside the zone: %v, want black", v)
	}
	if v := m.GetVecbAt(80, 150); v[0] != 200 || v[1] != 150 || v[2] != 100 {
		t.Errorf("outside the zone: %v, want unchanged", v)
	}
	if f.Regions() != 1 {
		t.Errorf("regions %d, want 1", f.Regions())
	}
	dst := gocv.NewMat()
	defer dst.Close()
	s, err := f.ScaleInto(dst, 100, 50)
	if err != nil {
		t.Fatal(err)
	}
	if sm := s.Mat(); sm.Cols() != 100 || sm.Rows() != 50 {
		t.Errorf("scaled to %dx%d", sm.Cols(), sm.Rows())
	}
	if _, err := f.ScaleInto(dst, 0, 50); err == nil {
		t.Error("a zero size must be an error, not an OpenCV abort")
	}
}
