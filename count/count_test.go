package count

import (
	"errors"
	"fmt"
	"image"
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func at(frame int) time.Time { return t0.Add(time.Duration(frame) * 40 * time.Millisecond) }

// door runs left to right across the screen at y 200, from x 100 to x 300:
// walking down the image through it is "in".
var door = Line{Name: "door", A: Point{100, 200}, B: Point{300, 200}}

// seg is n+1 points from a to b, both included.
func seg(a, b Point, n int) []Point {
	out := make([]Point, 0, n+1)
	for i := 0; i <= n; i++ {
		f := float64(i) / float64(n)
		out = append(out, Point{a.X + f*(b.X-a.X), a.Y + f*(b.Y-a.Y)})
	}
	return out
}

func pts(ps ...Point) []Point { return ps }

func cat[T any](parts ...[]T) []T {
	var out []T
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// trk is a confirmed track of class, one observation per frame.
func trk(id uint64, class string, ps ...[]Point) []Observation {
	var out []Observation
	for _, p := range cat(ps...) {
		out = append(out, Observation{TrackID: id, Class: class, Point: p, Confirmed: true})
	}
	return out
}

// person is trk for a person.
func person(id uint64, ps ...[]Point) []Observation { return trk(id, "person", ps...) }

// unconfirmed marks frames [0, n) of a track unconfirmed.
func unconfirmed(n int, obs []Observation) []Observation {
	for i := range min(n, len(obs)) {
		obs[i].Confirmed = false
	}
	return obs
}

// predicted marks frames [from, to) of a track as predictions.
func predicted(from, to int, obs []Observation) []Observation {
	for i := from; i < to && i < len(obs); i++ {
		obs[i].Predicted = true
	}
	return obs
}

// absent is n frames where a track is not there.
func absent(n int) []Observation { return make([]Observation, n) }

// together zips tracks into frames; a zero TrackID is a frame without it.
func together(tracks ...[]Observation) [][]Observation {
	n := 0
	for _, t := range tracks {
		n = max(n, len(t))
	}
	frames := make([][]Observation, n)
	for _, t := range tracks {
		for i, o := range t {
			if o.TrackID != 0 {
				frames[i] = append(frames[i], o)
			}
		}
	}
	return frames
}

func run(c *Counter, frames [][]Observation) []Event {
	var all []Event
	for i, f := range frames {
		all = append(all, c.Update(at(i), f)...)
	}
	return all
}

func newCounter(t testing.TB, lines []Line, zones []Zone, opt Options) *Counter {
	t.Helper()
	c, err := NewCounter(lines, zones, opt)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// summary is the events as "line class direction" strings, in order.
func summary(ev []Event) []string {
	var s []string
	for _, e := range ev {
		s = append(s, e.Line+" "+e.Class+" "+e.Direction)
	}
	return s
}

func TestCounterCrossings(t *testing.T) {
	above, below := Point{200, 150}, Point{200, 250}
	tests := []struct {
		name   string
		frames [][]Observation
		want   []string
	}{
		{"walking down through the door is in", together(person(1, seg(above, below, 10))), []string{"door person in"}},
		{"walking up is out", together(person(1, seg(below, above, 10))), []string{"door person out"}},
		{"standing still on the line", together(person(1, seg(Point{200, 200}, Point{200, 200}, 30))), nil},
		{
			"jitter within the margin is never counted",
			together(person(1, pts(Point{200, 193}, Point{200, 207}, Point{201, 194}, Point{199, 206}, Point{200, 193}, Point{200, 207}, Point{200, 199}))),
			nil,
		},
		{
			"jitter after a crossing counts neither again nor backwards",
			together(person(1, seg(above, Point{200, 220}, 7), pts(
				Point{200, 207}, Point{200, 193}, Point{200, 206}, Point{200, 194}, Point{200, 199}, Point{200, 193}, Point{200, 207},
				Point{200, 225}, Point{200, 195}, Point{200, 240}))),
			[]string{"door person in"},
		},
		{
			"firm on one side, dipping into the margin and back",
			together(person(1, pts(Point{200, 180}, Point{200, 205}, Point{200, 185}, Point{200, 206}, Point{200, 170}))),
			nil,
		},
		{
			"a slow crossing counts once, when firmly across",
			together(person(1, seg(Point{200, 190}, Point{200, 212}, 22))),
			[]string{"door person in"},
		},
		{"crossing the line beyond the segment's end", together(person(1, seg(Point{400, 150}, Point{400, 250}, 10))), nil},
		{"crossing the line before the segment's start", together(person(1, seg(Point{50, 250}, Point{50, 150}, 10))), nil},
		{
			"a diagonal path cutting the line just beyond B",
			together(person(1, seg(Point{290, 150}, Point{320, 250}, 10))), // meets y 200 at x 305
			nil,
		},
		{
			"a diagonal path cutting the line just inside B",
			together(person(1, seg(Point{280, 150}, Point{310, 250}, 10))), // meets y 200 at x 295
			[]string{"door person in"},
		},
		{
			"round the end, then in through the door",
			together(person(1, seg(Point{400, 250}, Point{400, 150}, 10), seg(Point{400, 150}, above, 10), seg(above, below, 10))),
			[]string{"door person in"},
		},
		{
			"in, then back out, is one in and one out",
			together(person(1, seg(above, below, 10), seg(below, above, 10))),
			[]string{"door person in", "door person out"},
		},
		{
			"in, round the end, in again: counted once (directions alternate)",
			together(person(1, seg(above, below, 10), seg(below, Point{400, 250}, 5), seg(Point{400, 250}, Point{400, 150}, 5),
				seg(Point{400, 150}, above, 5), seg(above, below, 10))),
			[]string{"door person in"},
		},
		{
			"two people crossing together both count",
			together(person(1, seg(above, below, 10)), person(2, seg(Point{220, 150}, Point{220, 250}, 10))),
			[]string{"door person in", "door person in"},
		},
		{
			"a person and a car are counted apart",
			together(person(1, seg(above, below, 10)), trk(2, "car", seg(Point{250, 250}, Point{250, 140}, 10))),
			[]string{"door person in", "door car out"},
		},
		{
			"confirmed just after crossing: counted once, on confirmation",
			together(unconfirmed(7, person(1, seg(Point{200, 185}, Point{200, 245}, 10)))),
			[]string{"door person in"},
		},
		{"never confirmed: never counted", together(unconfirmed(99, person(1, seg(above, below, 10)))), nil},
		{
			"in and back out before confirmation nets to nothing",
			together(unconfirmed(12, person(1, seg(above, below, 5), seg(below, above, 5), seg(above, above, 5)))),
			nil,
		},
		{
			"a crossing made while hidden counts when seen again",
			together(predicted(5, 9, person(1, seg(above, below, 10)))),
			[]string{"door person in"},
		},
		{
			"a prediction carried across the line is not a crossing",
			together(predicted(4, 11, person(1, seg(Point{200, 170}, Point{200, 190}, 4), seg(Point{200, 200}, Point{200, 250}, 5), seg(Point{200, 188}, Point{200, 150}, 5)))),
			nil,
		},
		{
			"a repeated track ID in one frame is taken once",
			together(person(1, seg(above, below, 10)), person(1, seg(Point{200, 140}, Point{200, 260}, 10))),
			[]string{"door person in"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCounter(t, []Line{door}, nil, Options{})
			got := summary(run(c, tt.frames))
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("events %q, want %q", got, tt.want)
			}
			checkTotals(t, c, got)
		})
	}
}

// checkTotals compares Totals with the events seen.
func checkTotals(t *testing.T, c *Counter, events []string) {
	t.Helper()
	want := map[string]int{}
	for _, e := range events {
		want[e]++
	}
	got := map[string]int{}
	for _, lt := range c.Totals() {
		for class, io := range lt.Classes {
			if io.In > 0 {
				got[lt.Line+" "+class+" in"] += int(io.In)
			}
			if io.Out > 0 {
				got[lt.Line+" "+class+" out"] += int(io.Out)
			}
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("totals %v, want %v", got, want)
	}
}

func TestCounterEventTime(t *testing.T) {
	c := newCounter(t, []Line{door}, nil, Options{})
	// Firmly across at frame 3 (y 215), confirmed from frame 5.
	frames := together(unconfirmed(5, person(1, seg(Point{200, 185}, Point{200, 225}, 4), seg(Point{200, 230}, Point{200, 240}, 2))))
	var got []Event
	for i, f := range frames {
		for _, e := range c.Update(at(i), f) {
			got = append(got, e)
			if !e.Time.Equal(at(5)) {
				t.Errorf("event at %v, want the confirmation frame's time %v", e.Time, at(5))
			}
		}
	}
	if len(got) != 1 {
		t.Fatalf("events %+v, want one", got)
	}
}

// An ID switch: the tracker loses track 1 near the line and starts track 2
// where it was.
func TestCounterStitch(t *testing.T) {
	above := Point{200, 150}
	tests := []struct {
		name   string
		opt    Options
		frames [][]Observation
		want   []string
	}{
		{
			"ID switch mid-crossing counts once",
			Options{},
			together(
				person(1, seg(above, Point{200, 190}, 4)),
				cat(absent(5), unconfirmed(3, person(2, seg(Point{200, 205}, Point{200, 250}, 5)))),
			),
			[]string{"door person in"},
		},
		{
			"... and not at all without stitching",
			Options{StitchRadius: -1},
			together(
				person(1, seg(above, Point{200, 190}, 4)),
				cat(absent(5), unconfirmed(3, person(2, seg(Point{200, 205}, Point{200, 250}, 5)))),
			),
			nil,
		},
		{
			"old track still predicted while the new one takes over",
			Options{},
			together(
				predicted(5, 15, person(1, seg(above, Point{200, 190}, 4), seg(Point{200, 192}, Point{200, 210}, 9))),
				cat(absent(6), unconfirmed(3, person(2, seg(Point{200, 202}, Point{200, 250}, 5)))),
			),
			[]string{"door person in"},
		},
		{
			"ID switch after the crossing: still once",
			Options{},
			together(
				person(1, seg(above, Point{200, 215}, 6)),
				cat(absent(8), unconfirmed(3, person(2, pts(Point{200, 212}, Point{200, 198}, Point{200, 213}), seg(Point{200, 215}, Point{200, 260}, 5)))),
			),
			[]string{"door person in"},
		},
		{
			"the new track appears too late",
			Options{StitchFrames: 3},
			together(
				person(1, seg(above, Point{200, 190}, 4)),
				cat(absent(9), unconfirmed(3, person(2, seg(Point{200, 205}, Point{200, 250}, 5)))),
			),
			nil,
		},
		{
			"the new track appears too far",
			Options{StitchRadius: 10},
			together(
				person(1, seg(above, Point{200, 190}, 4)),
				cat(absent(5), unconfirmed(3, person(2, seg(Point{200, 212}, Point{200, 250}, 5)))),
			),
			nil,
		},
		{
			"a car never inherits a person's state",
			Options{},
			together(
				person(1, seg(above, Point{200, 190}, 4)),
				cat(absent(5), unconfirmed(3, trk(2, "car", seg(Point{200, 205}, Point{200, 250}, 5)))),
			),
			nil,
		},
		{
			// Track 3 is nearer lost track 1 than lost track 2, but track
			// 4 is nearer still: closest pairs first gives 1->4, 2->3.
			"two switches at once pair closest first",
			Options{},
			together(
				person(1, seg(above, Point{200, 190}, 4)),
				person(2, seg(Point{225, 250}, Point{225, 212}, 4)),
				cat(absent(5), unconfirmed(3, person(3, seg(Point{212, 200}, Point{212, 150}, 5)))),
				cat(absent(5), unconfirmed(3, person(4, seg(Point{203, 193}, Point{203, 250}, 5)))),
			),
			[]string{"door person out", "door person in"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCounter(t, []Line{door}, nil, tt.opt)
			got := summary(run(c, tt.frames))
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("events %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCounterForgets(t *testing.T) {
	c := newCounter(t, []Line{door}, nil, Options{ForgetFrames: 20})
	run(c, together(person(1, seg(Point{200, 150}, Point{200, 180}, 3))))
	for i := range 20 {
		c.Update(at(i), nil)
	}
	if len(c.recs) != 1 {
		t.Fatalf("%d tracks remembered after 20 frames unseen, want 1", len(c.recs))
	}
	c.Update(at(21), nil)
	if len(c.recs) != 0 {
		t.Fatalf("%d tracks remembered after 21 frames unseen, want 0", len(c.recs))
	}
	// Back on the other side under the same ID: a new track, so no count.
	if ev := run(c, together(person(1, seg(Point{200, 230}, Point{200, 260}, 3)))); len(ev) != 0 {
		t.Errorf("events %+v from a forgotten track, want none", ev)
	}

	// A stream of short-lived tracks: memory stays bounded.
	c = newCounter(t, []Line{door}, nil, Options{ForgetFrames: 20})
	id := uint64(100)
	for f := range 5000 {
		var obs []Observation
		for k := range 5 {
			obs = append(obs, Observation{TrackID: id + uint64(k), Class: "person", Point: Point{float64(40 * k), float64(f % 300)}, Confirmed: true})
		}
		if f%3 == 0 {
			id += 5
		}
		c.Update(at(f), obs)
		if n := len(c.recs); n > 5*(20/3+2) {
			t.Fatalf("frame %d: %d tracks remembered", f, n)
		}
	}
}

func TestCounterOccupancy(t *testing.T) {
	square := Zone{Name: "hall", Polygon: []Point{{0, 0}, {100, 0}, {100, 100}, {0, 100}}}
	tri := Zone{Name: "corner", Polygon: []Point{{200, 0}, {300, 0}, {200, 100}}}
	c := newCounter(t, nil, []Zone{square, tri}, Options{})
	frames := []struct {
		obs  []Observation
		want string
	}{
		{nil, "[{hall map[]} {corner map[]}]"},
		{[]Observation{
			{TrackID: 1, Class: "person", Point: Point{50, 50}, Confirmed: true},
			{TrackID: 2, Class: "person", Point: Point{60, 50}, Confirmed: true},
			{TrackID: 3, Class: "person", Point: Point{70, 50}},                                // unconfirmed
			{TrackID: 4, Class: "car", Point: Point{10, 90}, Confirmed: true, Predicted: true}, // hidden, held
			{TrackID: 5, Class: "person", Point: Point{150, 50}, Confirmed: true},              // outside both
			{TrackID: 6, Class: "bicycle", Point: Point{210, 10}, Confirmed: true},             // in the triangle
			{TrackID: 7, Class: "bicycle", Point: Point{290, 90}, Confirmed: true},             // in its bounding box only
		}, "[{hall map[car:1 person:2]} {corner map[bicycle:1]}]"},
		{[]Observation{{TrackID: 1, Class: "person", Point: Point{150, 50}, Confirmed: true}}, "[{hall map[]} {corner map[]}]"},
	}
	for i, f := range frames {
		c.Update(at(i), f.obs)
		if got := fmt.Sprint(c.Occupancy()); got != f.want {
			t.Errorf("frame %d: occupancy %s, want %s", i, got, f.want)
		}
	}
}

func TestNewCounterValidates(t *testing.T) {
	ok := Line{Name: "a", A: Point{0, 0}, B: Point{10, 0}}
	zone := Zone{Name: "z", Polygon: []Point{{0, 0}, {10, 0}, {0, 10}}}
	tests := []struct {
		name  string
		lines []Line
		zones []Zone
		opt   Options
		want  string // in the error; "" for none
	}{
		{"fine", []Line{ok}, []Zone{zone}, Options{}, ""},
		{"nothing to count is fine", nil, nil, Options{}, ""},
		{"degenerate line", []Line{{Name: "a", A: Point{5, 5}, B: Point{5, 5}}}, nil, Options{}, "same point"},
		{"NaN line", []Line{{Name: "a", A: Point{math.NaN(), 5}, B: Point{5, 5}}}, nil, Options{}, "finite"},
		{"unnamed line", []Line{{A: Point{0, 0}, B: Point{1, 1}}}, nil, Options{}, "empty name"},
		{"two lines, one name", []Line{ok, ok}, nil, Options{}, `lines[1]: name "a" used twice`},
		{"a zone named as a line", []Line{ok}, []Zone{{Name: "a", Polygon: zone.Polygon}}, Options{}, `zones[0]: name "a" used twice`},
		{"two points", nil, []Zone{{Name: "z", Polygon: []Point{{0, 0}, {1, 1}}}}, Options{}, "2 points, want at least 3"},
		{"flat polygon", nil, []Zone{{Name: "z", Polygon: []Point{{0, 0}, {1, 1}, {2, 2}}}}, Options{}, "no area"},
		{"infinite polygon", nil, []Zone{{Name: "z", Polygon: []Point{{0, 0}, {math.Inf(1), 1}, {2, 0}}}}, Options{}, "finite"},
		{"negative margin", nil, nil, Options{Margin: -1}, "Margin"},
		{"NaN stitch radius", nil, nil, Options{StitchRadius: math.NaN()}, "StitchRadius"},
		{"forget before stitch", nil, nil, Options{StitchFrames: 20, ForgetFrames: 10}, "ForgetFrames 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewCounter(tt.lines, tt.zones, tt.opt)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tt.want != "" && (err == nil || !errors.Is(err, ErrConfig) || !contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want ErrConfig mentioning %q", err, tt.want)
			}
		})
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestOptionDefaults(t *testing.T) {
	c := newCounter(t, nil, nil, Options{})
	want := Options{Margin: 8, StitchRadius: 40, StitchFrames: 10, ForgetFrames: 30}
	if c.opt != want {
		t.Errorf("defaults %+v, want %+v", c.opt, want)
	}
	c = newCounter(t, nil, nil, Options{StitchFrames: 50})
	if c.opt.ForgetFrames != 50 {
		t.Errorf("ForgetFrames %d with StitchFrames 50, want 50", c.opt.ForgetFrames)
	}
	c = newCounter(t, nil, nil, Options{StitchRadius: -1})
	if c.opt.StitchFrames >= 0 {
		t.Errorf("StitchFrames %d with stitching off, want < 0", c.opt.StitchFrames)
	}
}

func ExampleLine() {
	// A line across the screen from left to right: walking down the image
	// through it is "in", walking up is "out".
	c, _ := NewCounter([]Line{{Name: "door", A: Point{0, 300}, B: Point{640, 300}}}, nil, Options{})
	for i, y := range []float64{250, 280, 300, 320, 350} {
		for _, e := range c.Update(time.Unix(int64(i), 0), []Observation{{TrackID: 1, Class: "person", Point: Point{320, y}, Confirmed: true}}) {
			fmt.Println(e.Line, e.Class, e.Direction)
		}
	}
	// Output: door person in
}

func TestBottomCentre(t *testing.T) {
	if got, want := BottomCentre(image.Rect(10, 20, 51, 120)), (Point{30.5, 120}); got != want {
		t.Errorf("BottomCentre = %v, want %v", got, want)
	}
}
