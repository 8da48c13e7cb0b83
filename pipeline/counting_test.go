package pipeline_test

import (
	"context"
	"math/rand/v2"
	"time"

	"gocv.io/x/gocv"
	"testing"

	"github.com/veil-gateway/veil/count"
	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/models"
	"github.com/veil-gateway/veil/pipeline"
)

// countLine is the truth's line in fractions of the frame.
func countLine(gt testenv.LineTruth) count.Line {
	a, b := gt.Fractions()
	return count.Line{Name: gt.Line.Name, A: count.Point{X: a[0], Y: a[1]}, B: count.Point{X: b[0], Y: b[1]}}
}

// TestCountingAccuracy counts people crossing the hand-counted line of
// vtest.avi and compares with the truth per direction: with Yolo on every
// frame; on every 3rd frame with the tracks predicted between (how a video
// detected every 3rd frame counts: veil bench's stride run); and as a live
// camera counts, on the frames it detected only (here 3 to 5 frames apart,
// 0.3-0.5 s), the frames between never reaching counting.
func TestCountingAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("whole clip")
	}
	gt := testenv.ReadLineTruth(t)
	passes, _ := pipeline.ParsePasses("0,1:15")
	for _, tt := range []struct {
		name   string
		every  int
		live   bool
		off    int     // most a direction's count may be off
		recall float64 // least share of true crossings matched
	}{
		{"every frame", 1, false, 2, 0.85},
		{"every 3rd frame", 3, false, 2, 0.85},
		// 0.3-0.5 s between detections, as the guard detects vtest.avi
		// on two cores: walkers who turn back near the line (frames
		// 296-344) are where the tracker goes wrong. Four random gap
		// sequences found 22-27 of the 27 crossings, each direction at
		// most 4 off; without the frame rate (every detection taken
		// for the next frame) 11-14, 5 off and more.
		{"live, detected 3-5 frames apart", 1, true, 4, 0.75},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := pipeline.CountConfig{Every: tt.every, Threshold: 0.3, Passes: passes, Lines: []count.Line{countLine(gt)}}
			count := pipeline.CountVideo
			if tt.live {
				count = countLive
			}
			snap, events, err := count(context.Background(), testenv.Data(t, gt.Clip), cfg, models.Open(testenv.Models(t)))
			if err != nil {
				t.Fatal(err)
			}
			got := snap.Lines[0].Classes["person"]
			// Match each counted crossing to a hand-counted one of the
			// same direction within 2 s.
			used := make([]bool, len(gt.Crossings))
			matched := 0
			for _, e := range events {
				frame := int(e.Time.Sub(snap.Since).Seconds()*10 + 0.5)
				for i, c := range gt.Crossings {
					if !used[i] && c.Direction == e.Direction && abs(c.Frame-frame) <= 20 {
						used[i], matched = true, matched+1
						break
					}
				}
			}
			t.Logf("line %s: truth in %d out %d; Veil in %d out %d; %d of %d counted crossings match a true one (same direction, within 2 s)",
				gt.Line.Name, gt.Counts.In, gt.Counts.Out, got.In, got.Out, matched, len(events))
			if d := abs(int(got.In) - gt.Counts.In); d > tt.off {
				t.Errorf("in: %d, truth %d", got.In, gt.Counts.In)
			}
			if d := abs(int(got.Out) - gt.Counts.Out); d > tt.off {
				t.Errorf("out: %d, truth %d", got.Out, gt.Counts.Out)
			}
			if recall := float64(matched) / float64(len(gt.Crossings)); recall < tt.recall {
				t.Errorf("only %d of %d true crossings found (%.2f)", matched, len(gt.Crossings), recall)
			}
		})
	}
}

// countLive counts a video as a live camera does: Process sees the frames
// detection ran on, 3 to 5 frames apart (a fixed random sequence), at their
// capture times, and knows the stream's rate (Counting.SetRate).
func countLive(ctx context.Context, path string, cfg pipeline.CountConfig, store *models.Store) (pipeline.CountSnapshot, []count.Event, error) {
	rng := rand.New(rand.NewPCG(5, 8))
	next := 0
	return pipeline.CountVideoLive(ctx, path, cfg, store, func(i int) bool {
		if i != next {
			return false
		}
		next += 3 + rng.IntN(3)
		return true
	})
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// BenchmarkCounting is the counting stage per frame of vtest.avi (768x576):
// Yolo-Fastest (whole frame and native-resolution tiles), tracking and
// counting.
func BenchmarkCounting(b *testing.B) {
	gt := testenv.ReadLineTruth(b)
	v, err := pipeline.OpenVideo(testenv.Data(b, gt.Clip))
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	frame := gocv.NewMat()
	defer frame.Close()
	if err := v.Read(&frame); err != nil {
		b.Fatal(err)
	}
	passes, _ := pipeline.ParsePasses("0,1:15")
	c, err := pipeline.NewCounting(pipeline.CountConfig{Every: 1, Threshold: 0.3, Passes: passes, Lines: []count.Line{countLine(gt)}}, models.Open(testenv.Models(b)))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	now := time.Now()
	for b.Loop() {
		now = now.Add(100 * time.Millisecond)
		if _, err := c.Process(frame, now); err != nil {
			b.Fatal(err)
		}
	}
}
