package pipeline

import (
	"log/slog"
	"testing"
	"time"

	"github.com/veil-gateway/veil/detect"
	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/models"
)

// With detections spaced out, tile reuse's bound (in detections) is kept to
// the motion gate's recheck in time.
func TestGuardReuse(t *testing.T) {
	on := detect.Reuse{Threshold: 10, MaxAge: 15}
	for _, tc := range []struct {
		name    string
		guard   bool
		fps     float64
		recheck time.Duration
		reuse   detect.Reuse
		want    int
	}{
		{"sync", false, 0.2, 0, on, 15},
		{"guard uncapped", true, 0, 0, on, 15},
		{"guard 0.2, recheck 10 s", true, 0.2, 0, on, 2},
		{"guard 1, recheck 5 s", true, 1, 5 * time.Second, on, 5},
		{"guard 0.05: under one detection a recheck, no reuse", true, 0.05, 0, on, 0},
		{"guard 30: the configured bound", true, 30, 0, on, 15},
		{"reuse off", true, 0.2, 0, detect.Reuse{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := CameraConfig{Guard: tc.guard, DetectFPS: tc.fps, GuardRecheck: tc.recheck}
			if got := guardReuse(cfg, tc.reuse); got.MaxAge != tc.want || got.Threshold != tc.reuse.Threshold {
				t.Errorf("reuse %+v, want max age %d", got, tc.want)
			}
		})
	}
}

// A capped guard camera bounds both its detectors' reuse: the engine's and
// counting's (whose boxes the plate search takes), leaving the caller's
// config as it was.
func TestNewCameraGuardReuse(t *testing.T) {
	passes, _ := ParsePasses("0,1:15")
	count := &CountConfig{Every: 1, Threshold: 0.3, Passes: passes, Reuse: detect.Reuse{Threshold: 10, MaxAge: 15}}
	eng := DefaultConfig()
	eng.Reuse = detect.Reuse{Threshold: 10, MaxAge: 15}
	cfg := CameraConfig{Name: "t", Source: "x.avi", Engine: eng, BitrateKbps: 800, MaxLatency: time.Second, Guard: true, DetectFPS: 0.2, Count: count}
	c, err := NewCamera(cfg, models.Open(testenv.Models(t)), nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer c.eng.Close()
	defer c.counting.Close()
	if got := c.eng.cfg.Reuse.MaxAge; got != 2 {
		t.Errorf("engine reuse max age %d, want 2", got)
	}
	if got := c.counting.cfg.Reuse.MaxAge; got != 2 {
		t.Errorf("counting reuse max age %d, want 2", got)
	}
	if count.Reuse.MaxAge != 15 {
		t.Errorf("the caller's count config changed: max age %d", count.Reuse.MaxAge)
	}
}
