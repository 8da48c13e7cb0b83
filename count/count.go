// Package count turns tracked positions into anonymous numbers: crossings of
// directed lines ("in" and "out", per class) and occupancy of zones. It sees
// only track IDs, class names and points, and what it emits carries no
// identity at all: an Event has a time, a line, a class and a direction.
//
// Give it one point per tracked object per frame, the bottom centre of the
// object's box (BottomCentre): where a person's feet or a vehicle's wheels
// meet the ground, so a line drawn on the floor is crossed when the object
// crosses it, whatever its height on screen. Points, lines and zones share
// the frame's pixel coordinates (x right, y down).
//
// Line counters have well-known ways to go wrong; each is handled here:
//   - A box jittering on the line. A track's side of a line only changes
//     when it is at least Margin pixels from the line (hysteresis); a
//     crossing is counted when the track was last firmly on one side and is
//     now firmly on the other.
//   - Crossing the line beyond its ends. Only the segment counts: the path
//     from the last firm point on one side to the first firm point on the
//     other must cut the segment between A and B.
//   - Counting twice. Per track and line, counted directions alternate: a
//     track counted "in" is counted again only after it was counted "out".
//     Walking in, then back out, is one "in" and one "out".
//   - Unconfirmed tracks. They are never counted, but their side history is
//     kept: a track confirmed just after it crossed is counted once, when it
//     is confirmed. Crossings made while unconfirmed count by their net
//     effect (in then out before confirmation counts nothing).
//   - Occlusion. A point the tracker only predicted (Observation.Predicted)
//     never moves a track across a line: a prediction carried past the line
//     by a stopped, hidden object would count a crossing that never was. A
//     crossing made while hidden still counts, when the object is seen again
//     on the other side.
//   - ID switches. A new track that appears within StitchRadius of a track
//     lost near a line in the last StitchFrames frames takes over its side
//     state, so a crossing interrupted by an ID switch counts once. The old
//     ID is then ignored while it is only predicted.
//   - Unbounded memory. A track not seen for ForgetFrames frames is
//     forgotten.
//
// A Counter is not safe for concurrent use.
package count

import (
	"cmp"
	"errors"
	"fmt"
	"image"
	"maps"
	"math"
	"slices"
	"time"
)

// Point is a position in frame pixels (x right, y down).
type Point struct{ X, Y float64 }

// BottomCentre is the point to count a box by: the middle of its bottom edge.
func BottomCentre(r image.Rectangle) Point {
	return Point{X: float64(r.Min.X+r.Max.X) / 2, Y: float64(r.Max.Y)}
}

// Line is a directed counting segment from A to B.
//
// Sides are told by the sign of the cross product
//
//	cross(B-A, P-A) = (B.X-A.X)*(P.Y-A.Y) - (B.Y-A.Y)*(P.X-A.X)
//
// which, in image coordinates (y down), is negative for a point P on the
// left of A->B as seen on screen, and positive on its right. A crossing from
// left to right is "in"; from right to left, "out". Swap A and B to swap the
// directions.
//
// Example: Line{A: Point{0, 300}, B: Point{640, 300}} runs left to right
// across the screen. A person walking down the image, from y 250 to y 350,
// goes from cross = 640*(250-300) < 0 (left) to 640*(350-300) > 0 (right):
// "in". Walking up the image is "out".
type Line struct {
	Name string
	A, B Point
}

// Zone is an area, a simple polygon (at least three points, in order).
type Zone struct {
	Name    string
	Polygon []Point
}

// Observation is one tracked object in one frame.
type Observation struct {
	TrackID   uint64
	Class     string
	Point     Point // the bottom centre of its box (BottomCentre)
	Confirmed bool
	// Predicted says the tracker did not see the object this frame: Point
	// is its prediction. A predicted point keeps the track in its zone but
	// never moves it across a line (a crossing made while hidden is counted
	// when the object is seen again on the other side), and for stitching
	// the track counts as lost since it was last seen.
	Predicted bool
}

// Directions of an Event.
const (
	In  = "in"
	Out = "out"
)

// Event is one counted crossing. It carries no track ID: nothing in it tells
// one person from another.
type Event struct {
	Time      time.Time
	Line      string
	Class     string
	Direction string // In or Out
}

// LineTotal is the crossings of one line so far, per class.
type LineTotal struct {
	Line    string           `json:"line"`
	Classes map[string]InOut `json:"classes"`
}

// InOut counts crossings per direction.
type InOut struct {
	In  uint64 `json:"in"`
	Out uint64 `json:"out"`
}

// ZoneCount is how many confirmed tracks of each class are inside a zone.
type ZoneCount struct {
	Zone    string         `json:"zone"`
	Classes map[string]int `json:"classes"`
}

// Options tune a Counter. Zero fields take the defaults; a negative
// StitchRadius or StitchFrames turns stitching off.
type Options struct {
	// Margin is the hysteresis distance: a track is on a side of a line
	// only when at least this many pixels from it [8].
	Margin float64
	// StitchRadius is how far (pixels) from where a track was lost a new
	// track may appear and take over its side state [40].
	StitchRadius float64
	// StitchFrames is how many frames a lost track may be taken over [10].
	StitchFrames int
	// ForgetFrames: a track not seen for this many frames is forgotten
	// [max(30, StitchFrames)]. Keep it above the tracker's MaxMissed so an
	// occluded track that comes back still knows its side.
	ForgetFrames int
}

// Option defaults.
const (
	DefaultMargin       = 8
	DefaultStitchRadius = 40
	DefaultStitchFrames = 10
	DefaultForgetFrames = 30
)

// ErrConfig is wrapped by every error NewCounter returns.
var ErrConfig = errors.New("count: bad configuration")

// Counter counts crossings and occupancy from a stream of observations.
type Counter struct {
	lines  []lineGeom
	zones  []zoneGeom
	opt    Options
	frame  int64
	serial uint64 // numbers track records, for tests

	recs map[uint64]*trackRec
	free []*trackRec

	totals []map[string]InOut // per line: class -> crossings
	occ    []map[string]int   // per zone: class -> confirmed tracks inside

	// Scratch, reused across frames.
	obsRec []*trackRec
	fresh  []int
	pairs  []stitchPair

	// trace, when set (tests), sees every event with the track record it
	// came from.
	trace func(serial uint64, line int, dir string)
}

// trackRec is what the counter remembers of one track.
type trackRec struct {
	serial   uint64
	class    string
	last     Point // last seen (not predicted) point
	lastSeen int64 // frame of the last observation, predicted or not
	lastReal int64 // frame of the last observation not predicted, 0 for none
	retired  bool  // taken over by a new track: ignore the old ID
	heir     bool  // took over a lost track
	lines    []lineState
}

// lineState is one track's state for one line.
type lineState struct {
	side    int8  // firm side: -1 left, +1 right, 0 not yet known
	counted int8  // side the track was last counted onto, 0 for none
	pend    int8  // net crossing made while unconfirmed, to count on confirmation
	firm    Point // last point firmly on side
}

type stitchPair struct {
	obs  int
	lost *trackRec
	dist float64
}

type lineGeom struct {
	Line
	dx, dy, len float64
}

type zoneGeom struct {
	Zone
	minX, minY, maxX, maxY float64
}

// NewCounter checks lines and zones (names non-empty and unique across lines
// and zones, lines of non-zero length, polygons of at least three points and
// non-zero area, all coordinates finite) and returns a Counter.
func NewCounter(lines []Line, zones []Zone, opt Options) (*Counter, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Counter{opt: opt, recs: map[uint64]*trackRec{}}
	names := map[string]bool{}
	name := func(kind string, i int, n string) error {
		if n == "" {
			return fmt.Errorf("%w: %s[%d]: empty name", ErrConfig, kind, i)
		}
		if names[n] {
			return fmt.Errorf("%w: %s[%d]: name %q used twice", ErrConfig, kind, i, n)
		}
		names[n] = true
		return nil
	}
	for i, l := range lines {
		if err := name("lines", i, l.Name); err != nil {
			return nil, err
		}
		if !finite(l.A) || !finite(l.B) {
			return nil, fmt.Errorf("%w: lines[%d] (%s): coordinates must be finite", ErrConfig, i, l.Name)
		}
		g := lineGeom{Line: l, dx: l.B.X - l.A.X, dy: l.B.Y - l.A.Y}
		g.len = math.Hypot(g.dx, g.dy)
		if !(g.len > 0) || math.IsInf(g.len, 0) {
			return nil, fmt.Errorf("%w: lines[%d] (%s): A and B are the same point", ErrConfig, i, l.Name)
		}
		c.lines = append(c.lines, g)
		c.totals = append(c.totals, map[string]InOut{})
	}
	for i, z := range zones {
		if err := name("zones", i, z.Name); err != nil {
			return nil, err
		}
		if len(z.Polygon) < 3 {
			return nil, fmt.Errorf("%w: zones[%d] (%s): %d points, want at least 3", ErrConfig, i, z.Name, len(z.Polygon))
		}
		g := zoneGeom{Zone: Zone{Name: z.Name, Polygon: slices.Clone(z.Polygon)},
			minX: math.Inf(1), minY: math.Inf(1), maxX: math.Inf(-1), maxY: math.Inf(-1)}
		area := 0.0
		for j, p := range z.Polygon {
			if !finite(p) {
				return nil, fmt.Errorf("%w: zones[%d] (%s): coordinates must be finite", ErrConfig, i, z.Name)
			}
			q := z.Polygon[(j+1)%len(z.Polygon)]
			area += p.X*q.Y - q.X*p.Y
			g.minX, g.maxX = math.Min(g.minX, p.X), math.Max(g.maxX, p.X)
			g.minY, g.maxY = math.Min(g.minY, p.Y), math.Max(g.maxY, p.Y)
		}
		if area == 0 || math.IsInf(area, 0) {
			return nil, fmt.Errorf("%w: zones[%d] (%s): polygon has no area", ErrConfig, i, z.Name)
		}
		c.zones = append(c.zones, g)
		c.occ = append(c.occ, map[string]int{})
	}
	return c, nil
}

func (o Options) withDefaults() (Options, error) {
	if math.IsNaN(o.Margin) || math.IsInf(o.Margin, 0) || o.Margin < 0 {
		return o, fmt.Errorf("%w: Margin %v: want a finite distance >= 0", ErrConfig, o.Margin)
	}
	if math.IsNaN(o.StitchRadius) || math.IsInf(o.StitchRadius, 0) {
		return o, fmt.Errorf("%w: StitchRadius %v: want a finite distance", ErrConfig, o.StitchRadius)
	}
	if o.ForgetFrames < 0 {
		return o, fmt.Errorf("%w: ForgetFrames %d: want >= 0", ErrConfig, o.ForgetFrames)
	}
	if o.Margin == 0 {
		o.Margin = DefaultMargin
	}
	if o.StitchRadius == 0 {
		o.StitchRadius = DefaultStitchRadius
	}
	if o.StitchFrames == 0 {
		o.StitchFrames = DefaultStitchFrames
	}
	if o.StitchRadius < 0 || o.StitchFrames < 0 {
		o.StitchRadius, o.StitchFrames = -1, -1
	}
	if o.ForgetFrames == 0 {
		o.ForgetFrames = max(DefaultForgetFrames, o.StitchFrames)
	}
	if o.ForgetFrames < o.StitchFrames {
		return o, fmt.Errorf("%w: ForgetFrames %d: want at least StitchFrames (%d)", ErrConfig, o.ForgetFrames, o.StitchFrames)
	}
	return o, nil
}

func finite(p Point) bool {
	return !math.IsNaN(p.X) && !math.IsNaN(p.Y) && !math.IsInf(p.X, 0) && !math.IsInf(p.Y, 0)
}

// Update takes every tracked object of one frame, taken at now, and returns
// the crossings completed in it (nil for none), in the order of obs then of
// lines. A TrackID repeated within obs is taken once (the first).
func (c *Counter) Update(now time.Time, obs []Observation) []Event {
	c.frame++
	for _, m := range c.occ {
		clear(m)
	}
	c.obsRec, c.fresh = c.obsRec[:0], c.fresh[:0]
	for i, o := range obs {
		r, isNew := c.recs[o.TrackID], false
		switch {
		case r == nil:
			r, isNew = c.newRec(), true
			c.recs[o.TrackID] = r
		case r.lastSeen == c.frame:
			c.obsRec = append(c.obsRec, nil) // repeated ID: the first counts
			continue
		case r.retired && !o.Predicted:
			// The tracker found the old ID again: a different object
			// now, since its state went to the track that took over.
			c.reset(r)
			isNew = true
		}
		r.lastSeen = c.frame
		if !o.Predicted {
			r.lastReal = c.frame
			if isNew {
				c.fresh = append(c.fresh, i)
			}
		}
		c.obsRec = append(c.obsRec, r)
	}
	if len(c.fresh) > 0 && c.opt.StitchFrames > 0 {
		c.stitch(obs)
	}
	var events []Event
	for i, o := range obs {
		if r := c.obsRec[i]; r != nil && !r.retired {
			events = c.observe(events, now, r, o)
		}
	}
	for id, r := range c.recs {
		if c.frame-r.lastSeen > int64(c.opt.ForgetFrames) {
			delete(c.recs, id)
			c.free = append(c.free, r)
		}
	}
	return events
}

func (c *Counter) newRec() *trackRec {
	var r *trackRec
	if n := len(c.free); n > 0 {
		r, c.free = c.free[n-1], c.free[:n-1]
	} else {
		r = &trackRec{lines: make([]lineState, len(c.lines))}
	}
	c.reset(r)
	return r
}

func (c *Counter) reset(r *trackRec) {
	c.serial++
	lines := r.lines
	clear(lines)
	*r = trackRec{serial: c.serial, lines: lines}
}

// stitch gives each new track of this frame the state of the nearest track of
// its class lost near a line in the last StitchFrames frames, within
// StitchRadius: pairs are taken closest first. A track seen this frame is
// not lost; one only predicted this frame is.
func (c *Counter) stitch(obs []Observation) {
	c.pairs = c.pairs[:0]
	for _, lost := range c.recs {
		age := c.frame - lost.lastReal
		if lost.retired || lost.lastReal == 0 || age < 1 || age > int64(c.opt.StitchFrames) || !c.nearLine(lost.last) {
			continue
		}
		for _, i := range c.fresh {
			o := obs[i]
			if o.Class != lost.class {
				continue
			}
			if d := math.Hypot(o.Point.X-lost.last.X, o.Point.Y-lost.last.Y); d <= c.opt.StitchRadius {
				c.pairs = append(c.pairs, stitchPair{obs: i, lost: lost, dist: d})
			}
		}
	}
	if len(c.pairs) == 0 {
		return
	}
	slices.SortFunc(c.pairs, func(a, b stitchPair) int {
		return cmp.Or(cmp.Compare(a.dist, b.dist), cmp.Compare(a.obs, b.obs), cmp.Compare(a.lost.serial, b.lost.serial))
	})
	for _, p := range c.pairs {
		heir := c.obsRec[p.obs]
		if p.lost.retired || heir.heir {
			continue
		}
		heir.serial, heir.heir = p.lost.serial, true
		copy(heir.lines, p.lost.lines)
		p.lost.retired = true
	}
}

// nearLine reports whether p is close enough to a line for an ID switch there
// to change a count: within Margin+StitchRadius of a segment.
func (c *Counter) nearLine(p Point) bool {
	reach := c.opt.Margin + c.opt.StitchRadius
	for i := range c.lines {
		if c.lines[i].segDist(p) <= reach {
			return true
		}
	}
	return false
}

func (c *Counter) observe(events []Event, now time.Time, r *trackRec, o Observation) []Event {
	r.class = o.Class
	if o.Confirmed {
		for li := range r.lines {
			if ls := &r.lines[li]; ls.pend != 0 {
				events = c.emit(events, now, r, li, ls.pend)
				ls.pend = 0
			}
		}
		for zi := range c.zones {
			if c.zones[zi].contains(o.Point) {
				c.occ[zi][o.Class]++
			}
		}
	}
	if o.Predicted {
		return events
	}
	r.last = o.Point
	for li := range c.lines {
		g, ls := &c.lines[li], &r.lines[li]
		s := g.side(o.Point, c.opt.Margin)
		if s == 0 {
			continue // inside the margin: no change
		}
		if ls.side != s {
			from, was := ls.firm, ls.side
			ls.side, ls.firm = s, o.Point
			if was == 0 || !g.cutBy(from, o.Point) || s == ls.counted {
				continue
			}
			ls.counted = s
			switch {
			case o.Confirmed:
				events = c.emit(events, now, r, li, s)
			case ls.pend == 0:
				ls.pend = s
			default: // back across before confirmation: nets to nothing
				ls.pend = 0
			}
		}
		ls.firm = o.Point
	}
	return events
}

func (c *Counter) emit(events []Event, now time.Time, r *trackRec, li int, side int8) []Event {
	dir := Out
	if side > 0 {
		dir = In
	}
	t := c.totals[li][r.class]
	if side > 0 {
		t.In++
	} else {
		t.Out++
	}
	c.totals[li][r.class] = t
	if c.trace != nil {
		c.trace(r.serial, li, dir)
	}
	return append(events, Event{Time: now, Line: c.lines[li].Name, Class: r.class, Direction: dir})
}

// Totals returns the crossings counted so far: one entry per line, in the
// order given to NewCounter, with the classes that crossed it. The maps are
// the caller's.
func (c *Counter) Totals() []LineTotal {
	out := make([]LineTotal, len(c.lines))
	for i, m := range c.totals {
		out[i] = LineTotal{Line: c.lines[i].Name, Classes: maps.Clone(m)}
	}
	return out
}

// Occupancy returns, per zone in the order given to NewCounter, how many
// confirmed tracks of each class were inside at the last Update (a class
// with none inside has no entry). The maps are the caller's.
func (c *Counter) Occupancy() []ZoneCount {
	out := make([]ZoneCount, len(c.zones))
	for i, m := range c.occ {
		out[i] = ZoneCount{Zone: c.zones[i].Name, Classes: maps.Clone(m)}
	}
	return out
}

// side is +1 when p is at least margin px right of the line, -1 when at least
// margin px left of it, else 0.
func (g *lineGeom) side(p Point, margin float64) int8 {
	d := g.dist(p)
	switch {
	case d >= margin:
		return 1
	case d <= -margin:
		return -1
	}
	return 0
}

// dist is the signed distance of p from the infinite line, positive on the
// right: cross(B-A, P-A) / |B-A|.
func (g *lineGeom) dist(p Point) float64 {
	return (g.dx*(p.Y-g.A.Y) - g.dy*(p.X-g.A.X)) / g.len
}

// cutBy reports whether the path p->q, whose ends lie on opposite sides of
// the line, cuts the segment A-B (ends included).
func (g *lineGeom) cutBy(p, q Point) bool {
	dp, dq := g.dist(p), g.dist(q)
	f := dp / (dp - dq) // where along p->q the line is met
	x := Point{X: p.X + f*(q.X-p.X), Y: p.Y + f*(q.Y-p.Y)}
	t := ((x.X-g.A.X)*g.dx + (x.Y-g.A.Y)*g.dy) / (g.len * g.len)
	return t >= 0 && t <= 1
}

// segDist is the distance of p from the segment A-B.
func (g *lineGeom) segDist(p Point) float64 {
	t := ((p.X-g.A.X)*g.dx + (p.Y-g.A.Y)*g.dy) / (g.len * g.len)
	t = math.Max(0, math.Min(1, t))
	return math.Hypot(p.X-(g.A.X+t*g.dx), p.Y-(g.A.Y+t*g.dy))
}

// contains is the even-odd rule.
func (z *zoneGeom) contains(p Point) bool {
	if p.X < z.minX || p.X > z.maxX || p.Y < z.minY || p.Y > z.maxY {
		return false
	}
	in := false
	poly := z.Polygon
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		a, b := poly[i], poly[j]
		if (a.Y > p.Y) != (b.Y > p.Y) && p.X < (b.X-a.X)*(p.Y-a.Y)/(b.Y-a.Y)+a.X {
			in = !in
		}
	}
	return in
}
