package detect

import (
	"image"
	"math/rand/v2"
	"testing"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/internal/testenv"
)

// TestThumbMatchesOpenCV: fastThumb's one pass makes the thumb OpenCV's
// four calls make, bit for bit, on real frames (every 4th of vtest.avi, and
// each cut to sides that are not multiples of 4) and on random images of
// awkward sizes; images it does not take (a region, grey, empty) are left
// to OpenCV's, and Thumb still gives the same thumb for a region as for its
// copy.
func TestThumbMatchesOpenCV(t *testing.T) {
	c := NewChange(10)
	defer c.Close()
	fast, slow := gocv.NewMat(), gocv.NewMat()
	defer fast.Close()
	defer slow.Close()
	same := func(what string, img gocv.Mat) {
		t.Helper()
		if !c.fastThumb(img, &fast) {
			t.Fatalf("%s: fastThumb did not take a continuous %dx%d BGR image", what, img.Cols(), img.Rows())
		}
		c.cvThumb(img, &slow)
		if fast.Rows() != slow.Rows() || fast.Cols() != slow.Cols() || fast.Type() != slow.Type() {
			t.Fatalf("%s: thumb %dx%d type %v, OpenCV's %dx%d type %v", what, fast.Cols(), fast.Rows(), fast.Type(), slow.Cols(), slow.Rows(), slow.Type())
		}
		d := gocv.NewMat()
		defer d.Close()
		gocv.AbsDiff(fast, slow, &d)
		if n := gocv.CountNonZero(d); n != 0 {
			t.Fatalf("%s: %d of %d values differ from OpenCV's", what, n, d.Rows()*d.Cols())
		}
	}

	frames := 0
	eachVtestFrame(t, 1<<30, func(i int, frame gocv.Mat) {
		if i%4 != 0 {
			return
		}
		frames++
		same("vtest frame", frame)
		cut := frame.Region(image.Rect(0, 0, frame.Cols()-1-i%3, frame.Rows()-2+i%2))
		odd := cut.Clone() // continuous, 765-767 x 574-575
		same("vtest frame cut", odd)
		odd.Close()
		cut.Close()
	})
	if frames < 100 {
		t.Fatalf("read %d frames of vtest.avi, want the whole clip", frames)
	}

	r := rand.New(rand.NewPCG(5, 6))
	for _, sz := range []image.Point{{1, 1}, {2, 3}, {5, 7}, {4, 4}, {31, 33}, {30, 30}, {64, 48}, {853, 479}, {1920, 1080}} {
		buf := make([]byte, 3*sz.X*sz.Y)
		for i := range buf {
			buf[i] = byte(r.IntN(256))
		}
		img, err := gocv.NewMatFromBytes(sz.Y, sz.X, gocv.MatTypeCV8UC3, buf)
		if err != nil {
			t.Fatal(err)
		}
		same("random", img)
		img.Close()
	}

	// A region is not continuous: OpenCV's path, the same thumb.
	img := frameOf(t, 64, 48)
	defer img.Close()
	reg := img.Region(image.Rect(3, 5, 40, 30))
	defer reg.Close()
	if c.fastThumb(reg, &fast) {
		t.Fatal("fastThumb took a region (not continuous)")
	}
	cp := reg.Clone()
	defer cp.Close()
	c.Thumb(reg, &slow)
	c.Thumb(cp, &fast)
	if d := maxAbsDiff(fast, slow); d != 0 {
		t.Fatalf("Thumb of a region and of its copy differ by %v", d)
	}
	// Into itself, or into a region: OpenCV's path, and the same thumb.
	self := frameOf(t, 64, 48)
	defer self.Close()
	if c.fastThumb(self, &self) {
		t.Fatal("fastThumb made a thumb into its own image")
	}
	want := gocv.NewMat()
	defer want.Close()
	c.cvThumb(img, &want)
	c.Thumb(self, &self)
	if d := maxAbsDiff(self, want); d != 0 {
		t.Fatalf("Thumb into its own image differs by %v", d)
	}
	into := gocv.NewMatWithSize(30, 40, gocv.MatTypeCV16U)
	defer into.Close()
	intoReg := into.Region(image.Rect(0, 0, 32, 24))
	defer intoReg.Close()
	if c.fastThumb(img, &intoReg) {
		t.Fatal("fastThumb wrote into a region")
	}
	grey := gocv.NewMatWithSize(8, 8, gocv.MatTypeCV8U)
	defer grey.Close()
	empty := gocv.NewMat()
	defer empty.Close()
	if c.fastThumb(grey, &fast) || c.fastThumb(empty, &fast) {
		t.Fatal("fastThumb took a grey or empty image")
	}
}

func frameOf(t *testing.T, w, h int) gocv.Mat {
	t.Helper()
	buf := make([]byte, 3*w*h)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	m, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, buf)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func maxAbsDiff(a, b gocv.Mat) float64 {
	if a.Rows() != b.Rows() || a.Cols() != b.Cols() || a.Type() != b.Type() {
		return -1
	}
	d := gocv.NewMat()
	defer d.Close()
	gocv.AbsDiff(a, b, &d)
	_, mx, _, _ := gocv.MinMaxLoc(d)
	return float64(mx)
}

// TestChangeMatchesOpenCV: fastCompare's one pass judges the blocks
// OpenCV's calls judge, bit for bit, on real frames (vtest.avi's against
// frames 1, 5 and 20 before them) and on random thumbs whose values are not
// the multiples of 4 Thumb makes (each rounding taken), at thresholds from
// 0.5 to 25; thumbs of odd sides are left to OpenCV's.
func TestChangeMatchesOpenCV(t *testing.T) {
	check := func(what string, c *Change, cur, ref gocv.Mat) {
		t.Helper()
		rc, rd, want := gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
		defer rc.Close()
		defer rd.Close()
		defer want.Close()
		c.grids(ref, &rc, &rd, true)
		m, wn := c.cvCompare(cur, ref, rc, rd, true)
		m.CopyTo(&want)
		got, n, ok := c.fastCompare(cur, ref, rc, rd)
		if !ok {
			t.Fatalf("%s: fastCompare did not take %dx%d thumbs", what, cur.Cols(), cur.Rows())
		}
		if n != wn || maxAbsDiff(got, want) != 0 {
			t.Fatalf("%s: %d blocks changed, OpenCV's %d (masks differ by %v)", what, n, wn, maxAbsDiff(got, want))
		}
	}
	thresholds := []float64{0.5, 3, 7.5, 10, 25}
	c0 := NewChange(10)
	defer c0.Close()
	var thumbs []gocv.Mat
	defer func() {
		for _, m := range thumbs {
			m.Close()
		}
	}()
	eachVtestFrame(t, 160, func(_ int, frame gocv.Mat) {
		th := gocv.NewMat()
		c0.Thumb(frame, &th)
		thumbs = append(thumbs, th)
	})
	if len(thumbs) < 160 {
		t.Fatalf("read %d frames of vtest.avi", len(thumbs))
	}
	changed := 0
	for _, th := range thresholds {
		c := NewChange(th)
		for i := 20; i < len(thumbs); i += 7 {
			for _, k := range []int{1, 5, 20} {
				check("vtest", c, thumbs[i], thumbs[i-k])
				_, n := c.Mask(thumbs[i], thumbs[i-k], true)
				changed += n
			}
		}
		c.Close()
	}
	if changed == 0 {
		t.Fatal("no block of vtest changed: the frames did not test anything")
	}

	r := rand.New(rand.NewPCG(7, 8))
	random := func(h, w, spread int, base gocv.Mat) gocv.Mat {
		m := gocv.NewMatWithSize(h, w, gocv.MatTypeCV16U)
		v, err := m.DataPtrUint16()
		if err != nil {
			t.Fatal(err)
		}
		var b []uint16
		if !base.Empty() {
			b, _ = base.DataPtrUint16()
		}
		for i := range v {
			x := r.IntN(4081)
			if b != nil {
				x = min(4080, max(0, int(b[i])+r.IntN(2*spread+1)-spread))
			}
			v[i] = uint16(x)
		}
		return m
	}
	none := gocv.NewMat()
	defer none.Close()
	for _, sz := range []image.Point{{2, 2}, {4, 6}, {30, 30}, {64, 48}, {384, 288}} {
		for _, spread := range []int{8, 40, 200, 4080} {
			ref := random(sz.Y, sz.X, 0, none)
			cur := random(sz.Y, sz.X, spread, ref)
			for _, th := range thresholds {
				c := NewChange(th)
				check("random", c, cur, ref)
				c.Close()
			}
			ref.Close()
			cur.Close()
		}
	}
	odd := random(5, 7, 0, none)
	defer odd.Close()
	rc, rd := gocv.NewMat(), gocv.NewMat()
	defer rc.Close()
	defer rd.Close()
	c0.grids(odd, &rc, &rd, true)
	if _, _, ok := c0.fastCompare(odd, odd, rc, rd); ok {
		t.Fatal("fastCompare took thumbs of odd sides")
	}
}

// eachVtestFrame calls fn with each of vtest.avi's first n frames (the
// frame is reused: copy what must outlive the call). External tests reach
// it as EachVtestFrame.
func eachVtestFrame(tb testing.TB, n int, fn func(i int, frame gocv.Mat)) {
	tb.Helper()
	vc, err := gocv.OpenVideoCapture(testenv.Data(tb, "video/vtest.avi"))
	if err != nil {
		tb.Fatal(err)
	}
	defer vc.Close()
	frame := gocv.NewMat()
	defer frame.Close()
	for i := 0; i < n && vc.Read(&frame) && !frame.Empty(); i++ {
		fn(i, frame)
	}
}
