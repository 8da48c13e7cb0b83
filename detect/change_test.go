package detect_test

import (
	"image"
	"math/rand/v2"
	"testing"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/detect"
)

// Strict judging sees every block lenient judging sees, and more; a thumb
// is the same as itself; thumbs of different sizes are changed everywhere.
// Random patches on frames of awkward sizes (sides not multiples of 4, one
// pixel wide) and at several thresholds.
func TestChangeStrictHoldsLenient(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	a, b := gocv.NewMat(), gocv.NewMat()
	defer a.Close()
	defer b.Close()
	lenient := gocv.NewMat()
	defer lenient.Close()
	for _, th := range []float64{0.5, 3, 7.5, 10} {
		c := detect.NewChange(th)
		for _, sz := range []image.Point{{1, 1}, {2, 2}, {1, 9}, {5, 3}, {33, 31}, {64, 48}} {
			for range 200 {
				base := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(100, 100, 100, 0), sz.Y, sz.X, gocv.MatTypeCV8UC3)
				next := base.Clone()
				w, h := 1+r.IntN(sz.X), 1+r.IntN(sz.Y)
				x, y := r.IntN(sz.X-w+1), r.IntN(sz.Y-h+1)
				v := float64(r.IntN(256))
				p := next.Region(image.Rect(x, y, x+w, y+h))
				p.SetTo(gocv.NewScalar(v, v, v, 0))
				p.Close()
				c.Thumb(base, &a)
				c.Thumb(next, &b)
				if !c.Same(a, a) {
					t.Fatalf("threshold %v, %v: a thumb is not the same as itself", th, sz)
				}
				m, n := c.Mask(b, a, false)
				m.CopyTo(&lenient)
				strict, ns := c.Mask(b, a, true)
				if n > 0 {
					gocv.BitwiseAnd(lenient, strict, &lenient) // lenient blocks strict also saw
					if k := gocv.CountNonZero(lenient); k != n {
						t.Fatalf("threshold %v, %v, patch %v at %d: strict missed %d of lenient's %d blocks", th, sz, image.Rect(x, y, x+w, y+h), int(v), n-k, n)
					}
				}
				if ns < n {
					t.Fatalf("threshold %v, %v: strict %d blocks, lenient %d", th, sz, ns, n)
				}
				base.Close()
				next.Close()
			}
		}
		small := gocv.NewMatWithSize(2, 2, gocv.MatTypeCV16U)
		if _, n := c.Mask(a, small, true); n != detect.ThumbBlocks(a).X*detect.ThumbBlocks(a).Y {
			t.Errorf("thumbs of different sizes: %d blocks changed, want all %v", n, detect.ThumbBlocks(a))
		}
		small.Close()
		c.Close()
	}
}
