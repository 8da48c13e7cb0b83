package pipeline

import (
	"image"
	"math/rand/v2"
	"slices"
	"testing"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/internal/testenv"
)

// TestBlockRegionsMatchOpenCV: the guard's regions found in one pass of C
// are OpenCV's Dilate and ConnectedComponentsWithStats's, box for box (in
// another order: OpenCV numbers components as it scans two rows at a time),
// with the same blocks covered: on random masks (sparse
// to dense, edges, one block wide or high, every dilation from 0 to 3), on
// more components than MaxGuardRegions, and on the changes of vtest.avi's
// frames.
func TestBlockRegionsMatchOpenCV(t *testing.T) {
	check := func(what string, g *Guard, mask gocv.Mat) int {
		t.Helper()
		got, n, covered, ok := g.blockRegions(mask)
		if !ok {
			t.Fatalf("%s: blockRegions did not take a %dx%d mask", what, mask.Cols(), mask.Rows())
		}
		want, wn, wcovered := g.cvRegions(mask)
		order := func(a, b image.Rectangle) int {
			for _, d := range []int{a.Min.Y - b.Min.Y, a.Min.X - b.Min.X, a.Max.Y - b.Max.Y, a.Max.X - b.Max.X} {
				if d != 0 {
					return d
				}
			}
			return 0
		}
		slices.SortFunc(got, order)
		slices.SortFunc(want, order)
		if n != wn || covered != wcovered || !slices.Equal(got, want) {
			t.Fatalf("%s (%dx%d, dilate %d): %d regions covering %d blocks, OpenCV's %d covering %d\n got %v\nwant %v",
				what, mask.Cols(), mask.Rows(), g.dilate, n, covered, wn, wcovered, got, want)
		}
		return n
	}
	r := rand.New(rand.NewPCG(11, 12))
	many := 0
	for _, d := range []int{0, 1, 2, 3} {
		g := NewGuard(GuardThreshold, d)
		for _, sz := range []image.Point{{1, 1}, {1, 7}, {9, 1}, {5, 4}, {48, 36}, {192, 144}, {480, 272}} {
			for _, density := range []float64{0.002, 0.02, 0.1, 0.3, 0.7} {
				mask := gocv.NewMatWithSize(sz.Y, sz.X, gocv.MatTypeCV8U)
				for i := range sz.X * sz.Y {
					if r.Float64() < density {
						mask.SetUCharAt(i/sz.X, i%sz.X, uint8(1+r.IntN(255)))
					}
				}
				if check("random", g, mask) > MaxGuardRegions {
					many++
				}
				mask.Close()
			}
		}
		g.Close()
	}
	if many == 0 {
		t.Fatal("no mask had more than MaxGuardRegions regions: that path went untested")
	}

	vc, err := gocv.OpenVideoCapture(testenv.Data(t, "video/vtest.avi"))
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	g := NewGuard(GuardThreshold, GuardDilate)
	defer g.Close()
	frame, ref, cur := gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer frame.Close()
	defer ref.Close()
	defer cur.Close()
	regions := 0
	for i := 0; i < 300 && vc.Read(&frame) && !frame.Empty(); i++ {
		if i%50 == 0 {
			g.Thumb(frame, &ref)
			g.SetRef(ref)
			continue
		}
		if i%5 != 0 {
			continue
		}
		g.Thumb(frame, &cur)
		mask, n := g.change.MaskRef(cur)
		if n > 0 {
			regions += check("vtest", g, mask)
		}
	}
	if regions == 0 {
		t.Fatal("no region changed in vtest.avi: nothing was compared")
	}
}
