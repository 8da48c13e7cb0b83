package eval_test

import (
	"context"
	"testing"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/eval"
	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/models"
	"github.com/veil-gateway/veil/pipeline"
	"github.com/veil-gateway/veil/redact"
)

func engine(t *testing.T, cfg pipeline.Config) eval.RedactFunc {
	t.Helper()
	eng, err := pipeline.NewEngine(cfg, models.Open(testenv.Models(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return func(raw gocv.Mat) (redact.Frame, error) {
		var tm pipeline.Timings
		dets, err := eng.Detect(raw, &tm)
		return eng.Redact(raw, dets, err, &tm)
	}
}

// TestEvalDlib: every one of the 43 faces of faces-dlib is destroyed, judged
// from the output pixels, and most of each picture is left alone.
func TestEvalDlib(t *testing.T) {
	cfg := pipeline.DefaultConfig()
	cfg.Plates = false
	rep, err := eval.Run(context.Background(), testenv.Data(t, "faces-dlib/gt.csv"), eval.Options{}, engine(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) > 0 {
		t.Fatalf("errors: %v", rep.Errors)
	}
	if rep.Boxes != 43 || rep.Hit != 43 {
		t.Errorf("redacted %d of %d faces, want 43 of 43; misses %+v", rep.Hit, rep.Boxes, rep.Misses)
	}
	if rep.OverRedaction > 0.2 {
		t.Errorf("over-redaction %.3f, want <= 0.2", rep.OverRedaction)
	}
}

// TestEvalNoRedactionFindsNothing: the judge is not fooled: with an engine
// that changes nothing, recall is 0.
func TestEvalNoRedactionFindsNothing(t *testing.T) {
	cfg := pipeline.DefaultConfig()
	cfg.Plates = false
	red := redact.New(redact.Pixelate)
	defer red.Close()
	rep, err := eval.Run(context.Background(), testenv.Data(t, "faces-dlib/gt.csv"), eval.Options{}, func(raw gocv.Mat) (redact.Frame, error) {
		return red.Apply(raw, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Hit != 0 || rep.OverRedaction != 0 {
		t.Errorf("identity redaction: %d redacted, over-redaction %v; want 0, 0", rep.Hit, rep.OverRedaction)
	}
}
