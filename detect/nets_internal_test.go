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

// TestPPOCRSmallNetsLoadWhenNeeded: the smaller text-detector networks are
// loaded by the first region that needs each (RSS is paid only then), and
// one that cannot be loaded leaves its regions to the large input.
func TestPPOCRSmallNetsLoadWhenNeeded(t *testing.T) {
	model, err := models.Open(testenv.Models(t)).Path(models.PPOCRDet)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPPOCR(PPOCRConfig{Model: model, Input: image.Pt(640, 640), Threshold: 0.3, BoxThresh: 0.5, SmallInput: image.Pt(320, 320)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	loaded := func() []image.Point {
		var out []image.Point
		for _, s := range p.smaller {
			if s.p != nil {
				out = append(out, s.in)
			}
		}
		return out
	}
	if len(p.smaller) != 2 || len(loaded()) != 0 {
		t.Fatalf("after NewPPOCR: %d smaller inputs, %v loaded; want 2, none", len(p.smaller), loaded())
	}
	img := gocv.NewMatWithSize(576, 768, gocv.MatTypeCV8UC3)
	defer img.Close()
	zoomed := func(r image.Rectangle) {
		t.Helper()
		if _, err := p.DetectZoomed(img, r, 4, 2); err != nil {
			t.Fatal(err)
		}
	}
	zoomed(image.Rect(0, 0, 48, 48)) // 192x192: 320
	if got := loaded(); len(got) != 1 || got[0] != image.Pt(320, 320) {
		t.Errorf("after a 320 region: %v loaded", got)
	}
	zoomed(image.Rect(0, 0, 160, 80)) // 640x320: the large input
	if got := loaded(); len(got) != 1 {
		t.Errorf("after a 640 region: %v loaded", got)
	}
	// The 448 network cannot be loaded: its region goes through 640.
	p.model = filepath.Join(t.TempDir(), "missing.onnx")
	before := p.t.run
	zoomed(image.Rect(0, 0, 96, 64)) // 384x256: 448
	if !p.smaller[1].failed || p.smaller[1].p != nil || p.t.run != before+1 {
		t.Errorf("448 failed %v, loaded %v; large input ran %d tiles, want 1", p.smaller[1].failed, p.smaller[1].p != nil, p.t.run-before)
	}
}

// TestPPOCRSmallNetsShareORTSession: on ONNX Runtime the smaller inputs run
// on the large input's session (it takes any size): nothing more is loaded,
// and closing them leaves it open.
func TestPPOCRSmallNetsShareORTSession(t *testing.T) {
	st := ortOrSkip(t)
	model, err := st.Path(models.PPOCRDetORT)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPPOCR(PPOCRConfig{Model: model, Input: image.Pt(640, 640), Threshold: 0.3, BoxThresh: 0.5, SmallInput: image.Pt(320, 320), DNN: ONNXRuntime})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	img := gocv.NewMatWithSize(576, 768, gocv.MatTypeCV8UC3)
	defer img.Close()
	for _, r := range []image.Rectangle{image.Rect(0, 0, 48, 48), image.Rect(0, 0, 96, 64)} { // 320, 448
		if _, err := p.DetectZoomed(img, r, 4, 2); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range p.smaller {
		if s.p == nil {
			t.Fatalf("%v not made", s.in)
		}
		if b, ok := s.p.t.dnn.(borrowed); !ok || b.network != p.t.dnn {
			t.Errorf("%v runs on its own network, not the large input's", s.in)
		}
		s.p.Close()
	}
	p.smaller = nil
	if _, err := p.Detect(img); err != nil {
		t.Errorf("the large input after the smaller ones closed: %v", err)
	}
}
