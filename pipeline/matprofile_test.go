//go:build matprofile

package pipeline_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/models"
	"github.com/veil-gateway/veil/pipeline"
)

// TestNoMatLeaks runs images and a video through the whole pipeline and checks
// every Mat it created was closed (go test -tags matprofile).
func TestNoMatLeaks(t *testing.T) {
	in := shortClip(t, 8)
	// The profile must be live, or this test could not fail.
	probe := gocv.NewMat()
	live := gocv.MatProfile.Count()
	probe.Close()
	if gocv.MatProfile.Count() != live-1 {
		t.Fatal("gocv.MatProfile is not counting: run with -tags matprofile")
	}
	// The engine is inside the count: tile reuse keeps Mats while it lives.
	before := gocv.MatProfile.Count()
	eng, err := pipeline.NewEngine(pipeline.DefaultConfig(), models.Open(testenv.Models(t))) // all detectors, all passes
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// Every other frame is redacted between detections (Stride).
	if _, err := pipeline.RedactVideoFile(context.Background(), eng, in, filepath.Join(dir, "v.mp4"), pipeline.VideoOptions{HoldFrames: 3, DetectEvery: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.RedactImageFile(context.Background(), eng, testenv.Data(t, "faces-dlib/images/2008_002079.jpg"), filepath.Join(dir, "a.jpg")); err != nil {
		t.Fatal(err)
	}
	// Failure paths must not leak either.
	if _, err := pipeline.RedactImageFile(context.Background(), eng, filepath.Join(dir, "missing.jpg"), filepath.Join(dir, "b.jpg")); err == nil {
		t.Fatal("want an error for a missing input")
	}
	eng.Close()
	if after := gocv.MatProfile.Count(); after != before {
		t.Errorf("Mat count %d before, %d after: leaked %d", before, after, after-before)
	}
}

// TestCameraNoMatLeaks runs a live camera (scaling, zones, late drops and a
// source reopen at the end of the file), in both modes, and stops it:
// every Mat is closed.
func TestCameraNoMatLeaks(t *testing.T) {
	clip := shortClip(t, 15)
	for _, guard := range []bool{false, true} {
		before := gocv.MatProfile.Count()
		cfg := cameraConfig(clip)
		cfg.Width, cfg.Height = 320, 240
		cfg.Zones = [][][2]float64{{{0, 0}, {0.2, 0}, {0.2, 0.2}}}
		cfg.Guard = guard
		cam, out, stop := runCamera(t, cfg)
		waitFor(t, "the clip to loop", 30*time.Second, func() bool { return cam.Status().Captured > 20 })
		stop()
		if len(out.get()) == 0 {
			t.Fatalf("guard %v: no samples", guard)
		}
		if after := gocv.MatProfile.Count(); after != before {
			t.Errorf("guard %v: Mat count %d before, %d after: leaked %d", guard, before, after, after-before)
		}
	}
}
