package detect

import (
	"image"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/models"
)

// TestDetectWholeShapes: the light look's network takes the frame's shape,
// is replaced when the shape changes, falls back to the square input when
// it cannot be loaded, and every look is counted in Tiles.
func TestDetectWholeShapes(t *testing.T) {
	st := models.Open(testenv.Models(t))
	cfgPath, err := st.Path(models.YoloCfg)
	if err != nil {
		t.Fatal(err)
	}
	weights, err := st.Path(models.YoloWeights)
	if err != nil {
		t.Fatal(err)
	}
	y, err := NewYolo(YoloConfig{Cfg: cfgPath, Weights: weights, Input: image.Pt(320, 320), Threshold: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	look := func(w, h int) {
		t.Helper()
		img := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
		defer img.Close()
		if _, err := y.DetectWhole(img); err != nil {
			t.Fatalf("%dx%d: %v", w, h, err)
		}
	}
	look(640, 640)
	if y.whole != nil {
		t.Errorf("a square frame made a shaped network %v", y.whole.in)
	}
	for _, c := range []struct {
		w, h int
		want image.Point
	}{{768, 576, image.Pt(320, 256)}, {1280, 720, image.Pt(320, 192)}, {1280, 720, image.Pt(320, 192)}} {
		look(c.w, c.h)
		if y.whole == nil || y.whole.in != c.want {
			t.Fatalf("%dx%d: shaped network %v, want %v", c.w, c.h, y.whole, c.want)
		}
	}
	// A shape whose network cannot be loaded: the square input answers.
	y.cfg.Weights = filepath.Join(t.TempDir(), "missing.weights")
	look(480, 640)
	if y.whole != nil || y.wholeBad != image.Pt(256, 320) {
		t.Errorf("after a failed load: shaped network %v, failed shape %v", y.whole, y.wholeBad)
	}
	look(480, 640) // not retried: still answered
	if got := y.Tiles().Run; got != 6 {
		t.Errorf("Tiles counts %d looks, want 6", got)
	}
}
