//go:build matprofile

package bench_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/bench"
	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/models"
)

// TestBenchNoMatLeaks runs the pass-through baselines (back to back, and
// live at the clip's pace through a loop of the clip) to their end, and
// the live one again cut short by cancellation: every Mat is closed
// (go test -tags matprofile).
func TestBenchNoMatLeaks(t *testing.T) {
	clip := shortClip(t, 8) // 0.8 s at 10 fps: the live run loops it
	// The profile must be live, or this test could not fail.
	probe := gocv.NewMat()
	live := gocv.MatProfile.Count()
	probe.Close()
	if gocv.MatProfile.Count() != live-1 {
		t.Fatal("gocv.MatProfile is not counting: run with -tags matprofile")
	}
	opt := bench.Options{
		Clips: []bench.Clip{{Name: "short", Path: clip}}, Modes: []string{bench.PassThrough, bench.LivePass},
		Frames: 4, WarmUp: 1, LiveFor: 1500 * time.Millisecond, Bitrate: 1000,
		Store: models.Open(testenv.Models(t)), Log: slog.New(slog.DiscardHandler),
	}
	for _, cut := range []time.Duration{0, 700 * time.Millisecond} {
		before := gocv.MatProfile.Count()
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if cut > 0 {
			opt.Modes, opt.LiveFor = []string{bench.LivePass}, time.Minute
			ctx, cancel = context.WithTimeout(ctx, cut)
		}
		rep, err := bench.Do(ctx, opt)
		cancel()
		if err != nil {
			t.Fatalf("cut %v: %v", cut, err)
		}
		if n := rep.Runs[len(rep.Runs)-1]; n.Mode != bench.LivePass || n.Frames == 0 {
			t.Errorf("cut %v: live pass-through run %+v", cut, n)
		}
		if after := gocv.MatProfile.Count(); after != before {
			t.Errorf("cut %v: Mat count %d before, %d after: leaked %d", cut, before, after, after-before)
		}
	}
}
