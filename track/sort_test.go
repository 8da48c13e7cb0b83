package track

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/veil-gateway/veil/detect"
)

func obj(c detect.Class, x, y, w, h float64) detect.Detection {
	return detect.Detection{Box: image.Rect(int(math.Round(x)), int(math.Round(y)), int(math.Round(x+w)), int(math.Round(y+h))), Class: c, Score: 0.8}
}

// nearest is the live track of class c whose box is closest to r (centre
// distance), or false.
func nearest(tracks []Track, c detect.Class, r image.Rectangle) (Track, bool) {
	best, bestD, ok := Track{}, math.Inf(1), false
	rx, ry := centre(r)
	for _, t := range tracks {
		if t.Class != c {
			continue
		}
		x, y := centre(t.Box)
		if d := math.Hypot(x-rx, y-ry); d < bestD {
			best, bestD, ok = t, d, true
		}
	}
	return best, ok
}

func checkOrdered(t *testing.T, tracks []Track) {
	t.Helper()
	if !slices.IsSortedFunc(tracks, func(a, b Track) int { return int(a.ID) - int(b.ID) }) {
		t.Fatalf("tracks not in ID order: %+v", tracks)
	}
}

func TestTrackerSteadyMotionKeepsOneID(t *testing.T) {
	tr := NewTracker(TrackerConfig{})
	for f := range 40 {
		d := obj(detect.Person, 100+6*float64(f), 100+2*float64(f), 40, 90)
		got := tr.Update([]detect.Detection{d})
		if len(got) != 1 || got[0].ID != 1 {
			t.Fatalf("frame %d: got %+v, want one track with ID 1", f, got)
		}
		if want := f >= 2; got[0].Confirmed != want {
			t.Errorf("frame %d: Confirmed = %v, want %v", f, got[0].Confirmed, want)
		}
		if got[0].Hits != f+1 || got[0].Missed != 0 {
			t.Errorf("frame %d: Hits, Missed = %d, %d, want %d, 0", f, got[0].Hits, got[0].Missed, f+1)
		}
		if f > 5 {
			if dx, dy := got[0].Box.Min.X-d.Box.Min.X, got[0].Box.Min.Y-d.Box.Min.Y; abs(dx) > 2 || abs(dy) > 2 {
				t.Errorf("frame %d: box %v, want within 2 px of %v", f, got[0].Box, d.Box)
			}
		}
	}
}

func abs(x int) int { return max(x, -x) }

// Two people walk towards each other and pass; their boxes overlap for
// several frames. Velocity carries each track through the crossing.
func TestTrackerCrossingKeepsIDs(t *testing.T) {
	for _, tt := range []struct {
		name string
		hide func(f int) bool // frames where b is behind a
	}{
		{"both seen", func(int) bool { return false }},
		{"rear one hidden while they overlap", func(f int) bool { return f >= 11 && f <= 14 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			tr := NewTracker(TrackerConfig{})
			var idA, idB uint64
			for f := range 30 {
				a := obj(detect.Person, 100+8*float64(f), 200, 40, 90)
				b := obj(detect.Person, 300-8*float64(f), 206, 40, 90)
				dets := []detect.Detection{a, b}
				if tt.hide(f) {
					dets = dets[:1]
				}
				rng.Shuffle(len(dets), func(i, j int) { dets[i], dets[j] = dets[j], dets[i] })
				got := tr.Update(dets)
				checkOrdered(t, got)
				if len(got) != 2 {
					t.Fatalf("frame %d: %d tracks, want 2: %+v", f, len(got), got)
				}
				ta, _ := nearest(got, detect.Person, a.Box)
				if f == 0 {
					idA, idB = ta.ID, 3-ta.ID
				}
				if ta.ID != idA {
					t.Fatalf("frame %d: the track on a is %d, want %d (ID switch): %+v", f, ta.ID, idA, got)
				}
				if !tt.hide(f) {
					tb, _ := nearest(got, detect.Person, b.Box)
					if tb.ID != idB {
						t.Fatalf("frame %d: the track on b is %d, want %d (ID switch): %+v", f, tb.ID, idB, got)
					}
				}
			}
		})
	}
}

// The detector runs on every Nth frame only (Skip between), and two
// walkers cross, each moving 10 px a frame: between two detections a box
// moves further than it overlaps itself (IoU 0.14 at N = 3), so IoU alone
// would start a new track at every detection and never confirm one. The
// gated second stage keeps one track each, through the crossing.
func TestTrackerDetectorEveryNth(t *testing.T) {
	for _, every := range []int{2, 3, 4} {
		t.Run(fmt.Sprintf("every %d", every), func(t *testing.T) {
			tr := NewTracker(TrackerConfig{MaxMissed: 10 * every})
			var idA, idB uint64
			seen := 0
			for f := range 40 {
				a := obj(detect.Person, 100+10*float64(f), 200, 40, 90)
				b := obj(detect.Person, 500-10*float64(f), 204, 40, 90)
				if f%every != 0 {
					if got := tr.Skip(); len(got) != 2 {
						t.Fatalf("frame %d: %d tracks, want 2: %+v", f, len(got), got)
					}
					continue
				}
				seen++
				got := tr.Update([]detect.Detection{b, a})
				if len(got) != 2 {
					t.Fatalf("frame %d: %d tracks, want 2: %+v", f, len(got), got)
				}
				ta, _ := nearest(got, detect.Person, a.Box)
				tb, _ := nearest(got, detect.Person, b.Box)
				if f == 0 {
					idA, idB = ta.ID, tb.ID
				}
				if ta.ID != idA || tb.ID != idB {
					t.Fatalf("frame %d: tracks on a and b are %d and %d, want %d and %d: %+v", f, ta.ID, tb.ID, idA, idB, got)
				}
				if want := seen >= 3; ta.Confirmed != want || tb.Confirmed != want {
					t.Errorf("frame %d (detection %d): confirmed %v %v, want %v", f, seen, ta.Confirmed, tb.Confirmed, want)
				}
			}
		})
	}
}

// With the detector on every frame the gate stays shut: a new track (its
// speed unknown, so the gate would take it) whose object jumps clear of its
// box (IoU 0.24) is left, and the jump starts a new track, as in SORT.
func TestTrackerEveryFrameIoUOnly(t *testing.T) {
	tr := NewTracker(TrackerConfig{})
	tr.Update([]detect.Detection{obj(detect.Person, 100, 100, 40, 90)})
	got := tr.Update([]detect.Detection{obj(detect.Person, 120, 120, 40, 90)})
	if len(got) != 2 || got[1].ID != 2 || got[0].Missed != 1 {
		t.Fatalf("a detection with too little overlap must start track 2 and leave track 1 missed: %+v", got)
	}
	// After a skipped frame the same jump is the same object.
	tr = NewTracker(TrackerConfig{})
	tr.Update([]detect.Detection{obj(detect.Person, 100, 100, 40, 90)})
	tr.Skip()
	got = tr.Update([]detect.Detection{obj(detect.Person, 120, 120, 40, 90)})
	if len(got) != 1 || got[0].ID != 1 || got[0].Hits != 2 {
		t.Fatalf("after a skipped frame the gate must match the jump to track 1: %+v", got)
	}
}

func TestTrackerOcclusionKeepsID(t *testing.T) {
	tr := NewTracker(TrackerConfig{MaxMissed: 10})
	hidden := func(f int) bool { return f >= 10 && f < 15 }
	for f := range 25 {
		d := obj(detect.Car, 50+10*float64(f), 300, 120, 60)
		var dets []detect.Detection
		if !hidden(f) {
			dets = append(dets, d)
		}
		got := tr.Update(dets)
		if len(got) != 1 || got[0].ID != 1 {
			t.Fatalf("frame %d: got %+v, want one track with ID 1", f, got)
		}
		g := got[0]
		wantMissed := 0
		if hidden(f) {
			wantMissed = f - 9
		}
		if g.Missed != wantMissed || g.Confirmed != (f >= 2) {
			t.Errorf("frame %d: Missed %d Confirmed %v, want %d %v", f, g.Missed, g.Confirmed, wantMissed, f >= 2)
		}
		// The prediction follows the car behind the occluder.
		if iou := detect.IoU(g.Box, d.Box); iou < 0.8 {
			t.Errorf("frame %d: box %v vs truth %v: IoU %.2f, want >= 0.8", f, g.Box, d.Box, iou)
		}
	}
}

func TestTrackerDeletesAfterMaxMissed(t *testing.T) {
	tr := NewTracker(TrackerConfig{MaxMissed: 3})
	d := obj(detect.Person, 100, 100, 40, 90)
	for range 4 {
		tr.Update([]detect.Detection{d})
	}
	for miss := 1; miss <= 3; miss++ {
		got := tr.Update(nil)
		if len(got) != 1 || got[0].Missed != miss || !got[0].Confirmed {
			t.Fatalf("miss %d: got %+v, want the confirmed track, Missed %d", miss, got, miss)
		}
		if got[0].Box != d.Box {
			t.Errorf("miss %d: a still object's predicted box %v, want %v", miss, got[0].Box, d.Box)
		}
	}
	if got := tr.Update(nil); len(got) != 0 {
		t.Fatalf("after MaxMissed+1 misses: got %+v, want none", got)
	}
	got := tr.Update([]detect.Detection{d})
	if len(got) != 1 || got[0].ID != 2 || got[0].Confirmed {
		t.Fatalf("got %+v, want a new unconfirmed track with ID 2", got)
	}
}

func TestTrackerConfirmation(t *testing.T) {
	d := obj(detect.Person, 100, 100, 40, 90)
	tests := []struct {
		name    string
		minHits int
		seen    []bool // detection present in frame i
		want    []bool // Confirmed in frame i
	}{
		{"three hits", 3, []bool{true, true, true, true}, []bool{false, false, true, true}},
		{"a miss before confirmation only delays it", 3, []bool{true, false, true, false, true}, []bool{false, false, false, false, true}},
		{"stays confirmed while missed", 3, []bool{true, true, true, false, false}, []bool{false, false, true, true, true}},
		{"MinHits 1 confirms at once", 1, []bool{true, false}, []bool{true, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewTracker(TrackerConfig{MinHits: tt.minHits})
			for i, seen := range tt.seen {
				var dets []detect.Detection
				if seen {
					dets = []detect.Detection{d}
				}
				got := tr.Update(dets)
				if len(got) != 1 || got[0].ID != 1 {
					t.Fatalf("frame %d: got %+v, want one track with ID 1", i, got)
				}
				if got[0].Confirmed != tt.want[i] {
					t.Errorf("frame %d: Confirmed = %v, want %v", i, got[0].Confirmed, tt.want[i])
				}
			}
		})
	}
}

func TestTrackerClassesNeverMix(t *testing.T) {
	tr := NewTracker(TrackerConfig{})
	for f := range 10 {
		p := obj(detect.Person, 100+5*float64(f), 100, 50, 50)
		c := obj(detect.Car, 100+5*float64(f), 100, 50, 50) // the very same box
		dets := []detect.Detection{c, p}
		if f >= 5 {
			dets = dets[:1] // only the car from now on
		}
		got := tr.Update(dets)
		if len(got) != 2 {
			t.Fatalf("frame %d: got %+v, want 2 tracks", f, got)
		}
		for _, g := range got {
			wantClass, wantMissed := detect.Car, 0
			if g.ID == 2 {
				wantClass = detect.Person
				wantMissed = max(0, f-4)
			}
			if g.Class != wantClass || g.Missed != wantMissed {
				t.Errorf("frame %d: track %d is %v missed %d, want %v missed %d", f, g.ID, g.Class, g.Missed, wantClass, wantMissed)
			}
		}
	}
	// A bicycle where the person track is predicted starts its own track.
	got := tr.Update([]detect.Detection{obj(detect.Bicycle, 150, 100, 50, 50)})
	if len(got) != 3 || got[2].ID != 3 || got[2].Class != detect.Bicycle {
		t.Fatalf("got %+v, want a third track, a bicycle with ID 3", got)
	}
}

// A greedy matcher gives track 1 its best detection and leaves track 2 with
// nothing; the optimal assignment matches both.
func TestTrackerAssignmentIsGlobal(t *testing.T) {
	tr := NewTracker(TrackerConfig{})
	tr.Update([]detect.Detection{obj(detect.Person, 100, 0, 100, 100), obj(detect.Person, 60, 0, 100, 100)})
	got := tr.Update([]detect.Detection{obj(detect.Person, 95, 0, 100, 100), obj(detect.Person, 140, 0, 100, 100)})
	if len(got) != 2 || got[0].Hits != 2 || got[1].Hits != 2 {
		t.Fatalf("got %+v, want both tracks matched (Hits 2) and no new track", got)
	}
	if got[0].Box.Min.X < got[1].Box.Min.X {
		t.Errorf("track 1 at %v, track 2 at %v: want track 1 on the right-hand detection", got[0].Box, got[1].Box)
	}
}

func TestTrackerIDsNeverRepeat(t *testing.T) {
	tr := NewTracker(TrackerConfig{MaxMissed: 1})
	seen := map[uint64]bool{}
	last := uint64(0)
	rng := rand.New(rand.NewPCG(3, 4))
	for f := range 200 {
		var dets []detect.Detection
		for range rng.IntN(4) {
			dets = append(dets, obj(detect.Class(1+rng.IntN(8)), float64(rng.IntN(600)), float64(rng.IntN(400)), 30, 30))
		}
		if f == 100 {
			tr.Reset()
		}
		got := tr.Update(dets)
		checkOrdered(t, got)
		for _, g := range got {
			if g.ID == 0 {
				t.Fatalf("frame %d: ID 0", f)
			}
			if !seen[g.ID] {
				if g.ID <= last {
					t.Fatalf("frame %d: new ID %d not above %d", f, g.ID, last)
				}
				seen[g.ID], last = true, g.ID
			}
		}
	}
}

func TestTrackerIgnoresEmptyBoxes(t *testing.T) {
	tr := NewTracker(TrackerConfig{})
	got := tr.Update([]detect.Detection{{Box: image.Rect(10, 10, 10, 40), Class: detect.Person}})
	if len(got) != 0 {
		t.Fatalf("got %+v, want no track from an empty box", got)
	}
}

func BenchmarkTrackerUpdate(b *testing.B) {
	const objects, period = 20, 120
	frames := make([][]detect.Detection, period)
	for f := range frames {
		phase := 2 * math.Pi * float64(f) / period
		for i := range objects {
			x := 40 + float64(i%5)*120 + 50*math.Sin(phase+float64(i))
			y := 40 + float64(i/5)*110 + 30*math.Cos(phase+float64(i))
			c := detect.Person
			if i%3 == 0 {
				c = detect.Car
			}
			if (f+i)%7 != 0 { // a miss now and then
				frames[f] = append(frames[f], obj(c, x, y, 40, 80))
			}
		}
	}
	// every 3: the detector on every 3rd frame, the gated stage on each.
	for _, every := range []int{1, 3} {
		b.Run(fmt.Sprintf("every=%d", every), func(b *testing.B) {
			tr := NewTracker(TrackerConfig{MaxMissed: 10 * every})
			step := func(f int) []Track {
				if f%every != 0 {
					return tr.Skip()
				}
				return tr.Update(frames[f%period])
			}
			for f := range period {
				step(f)
			}
			b.ReportAllocs()
			f := 0
			for b.Loop() {
				step(f)
				f++
			}
			for ; f%every != 0; f++ { // on to the next detected frame
				tr.Skip()
			}
			if n := len(step(f)); n != objects {
				b.Fatalf("%d tracks, want %d", n, objects)
			}
		})
	}
}
