package pipeline

import (
	"testing"
	"time"

	"github.com/veil-gateway/veil/detect"
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
		{"guard 0.05", true, 0.05, 0, on, 1},
		{"guard 30: the configured bound", true, 30, 0, on, 15},
		{"reuse off", true, 0.2, 0, detect.Reuse{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := CameraConfig{Guard: tc.guard, DetectFPS: tc.fps, GuardRecheck: tc.recheck}
			cfg.Engine.Reuse = tc.reuse
			if got := guardReuse(cfg); got.MaxAge != tc.want || got.Threshold != tc.reuse.Threshold {
				t.Errorf("reuse %+v, want max age %d", got, tc.want)
			}
		})
	}
}
