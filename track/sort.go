package track

import (
	"image"
	"math"

	"github.com/veil-gateway/veil/detect"
)

// TrackerConfig tunes a Tracker. Zero fields take the defaults in brackets.
type TrackerConfig struct {
	// IoUThreshold is the least overlap between a track's predicted box and
	// a detection for the two to match [0.3].
	IoUThreshold float64
	// MaxMissed is how many frames in a row a track may go without a
	// detection (its box predicted) before it is deleted [10].
	MaxMissed int
	// MinHits is how many detections a track needs to be confirmed [3].
	MinHits int
}

// Defaults of TrackerConfig.
const (
	DefaultIoUThreshold = 0.3
	DefaultMaxMissed    = 10
	DefaultMinHits      = 3
)

func (c TrackerConfig) withDefaults() TrackerConfig {
	if c.IoUThreshold <= 0 {
		c.IoUThreshold = DefaultIoUThreshold
	}
	if c.MaxMissed <= 0 {
		c.MaxMissed = DefaultMaxMissed
	}
	if c.MinHits <= 0 {
		c.MinHits = DefaultMinHits
	}
	return c
}

// Track is one object followed across frames.
type Track struct {
	ID    uint64 // from 1, never reused by a Tracker
	Class detect.Class
	// Box is the filter's estimate: the detection smoothed by the track's
	// motion model, or its prediction when the track was missed this frame.
	Box       image.Rectangle
	Hits      int  // detections matched to this track so far (the first included)
	Missed    int  // frames since the last detection; 0 when seen this frame
	Confirmed bool // Hits reached MinHits; stays true while the track lives
}

// Tracker follows detections from frame to frame, SORT-style (Bewley et al.
// 2016): every track carries a constant-velocity Kalman filter on its box
// centre and size; each frame the tracks are predicted forward one frame and
// matched to the detections by IoU, same class only, with an optimal
// (Hungarian) assignment that first maximises how many pairs match and then
// their total IoU. Matched tracks are corrected by their detection, the
// others are predicted (an object behind an occluder keeps moving at its
// velocity) and deleted after MaxMissed frames, and every detection left over
// starts a new track.
//
// A new track is unconfirmed until MinHits detections matched it, so a
// detector's one-frame false positive never becomes a confirmed track.
// Unconfirmed tracks ride out misses exactly like confirmed ones, so frames
// the detector skipped (Skip) cost nothing but the miss count. On the
// first frame after such a gap, tracks and detections IoU left apart get a
// second, gated chance to match (matchGated).
//
// The filter: DeepSORT's model (Wojke et al. 2017) with the box as centre,
// width and height. Its transition, observation and noise matrices are block
// diagonal per coordinate, so the 8-state filter is exactly four independent
// 2-state filters (position and velocity of cx, cy, w, h): same numbers, no
// matrix code, no allocation. Noise scales with the box, as in DeepSORT: a
// 20 px jitter is nothing on a bus and everything on a far pedestrian.
//
// A Tracker is not safe for concurrent use. Its Update allocates nothing once
// its buffers have grown to the scene.
type Tracker struct {
	cfg    TrackerConfig
	nextID uint64
	tracks []sortTrack // in ID order: new tracks are appended, deletion keeps order
	out    []Track

	// Scratch, reused across frames.
	pred []box
	cost []float64
	hung hungarian
	used []bool // detections matched this frame
	ut   []int  // tracks the IoU stage left unmatched
	ud   []int  // detections the IoU stage left unmatched

	skipped bool // Skip was called since the last Update
}

// NewTracker returns a Tracker; zero fields of cfg take their defaults.
func NewTracker(cfg TrackerConfig) *Tracker {
	return &Tracker{cfg: cfg.withDefaults(), nextID: 1}
}

// SetMaxMissed changes MaxMissed (n <= 0: the default) for the next Update:
// a caller that learns how far apart its detections are keeps tracks
// through the same number of detections.
func (t *Tracker) SetMaxMissed(n int) {
	t.cfg.MaxMissed = n
	t.cfg = t.cfg.withDefaults()
}

// Reset forgets every track (a cut, a new file). IDs keep counting up.
func (t *Tracker) Reset() { t.tracks = t.tracks[:0] }

// Update takes the detections of a frame the detector ran on (none: it found
// nothing) and returns every live track, confirmed or not, ordered by ID.
// Detections with an empty box are ignored. The returned slice is reused by
// the next Update or Skip: copy what you keep.
func (t *Tracker) Update(dets []detect.Detection) []Track { return t.update(dets, false) }

// Skip is Update for a frame the detector did not run on: every track is
// predicted and missed, and the next Update matches across the gap
// (matchGated).
func (t *Tracker) Skip() []Track { return t.update(nil, true) }

func (t *Tracker) update(dets []detect.Detection, skip bool) []Track {
	n, m := len(t.tracks), len(dets)
	t.pred = t.pred[:0]
	for i := range t.tracks {
		t.tracks[i].predict()
		t.pred = append(t.pred, t.tracks[i].box())
	}

	// Assignment. Cost is 1-IoU for a pair that may match; a pair that may
	// not (another class, too little overlap) costs more than any set of
	// allowed pairs can, so the solver first maximises the number of
	// matches, then their IoU. Rows are the smaller side (the solver needs
	// rows <= columns).
	rows, cols, trackRows := n, m, true
	if n > m {
		rows, cols, trackRows = m, n, false
	}
	t.cost = grow(t.cost, rows*cols)
	forbid := float64(rows + 1)
	anyPair := false
	for i := range t.tracks {
		for j, d := range dets {
			c := forbid
			if t.tracks[i].class == d.Class && !d.Box.Empty() {
				if iou := t.pred[i].iou(d.Box); iou >= t.cfg.IoUThreshold {
					c, anyPair = 1-iou, true
				}
			}
			if trackRows {
				t.cost[i*cols+j] = c
			} else {
				t.cost[j*cols+i] = c
			}
		}
	}
	t.used = grow(t.used, m)
	clear(t.used)
	for i := range t.tracks {
		t.tracks[i].matched = -1
	}
	if anyPair {
		t.assign(rows, cols, trackRows, forbid, func(ti, di int) {
			t.tracks[ti].matched = di
			t.used[di] = true
		})
	}

	// After frames the detector skipped a walker can have moved further
	// than its box overlaps.
	if !skip && t.skipped {
		t.matchGated(dets)
	}
	t.skipped = skip

	keep := t.tracks[:0]
	for _, tr := range t.tracks {
		if tr.matched >= 0 {
			tr.correct(dets[tr.matched].Box)
			tr.hits++
			tr.missed = 0
			if tr.hits >= t.cfg.MinHits {
				tr.confirmed = true
			}
		} else {
			tr.missed++
			if tr.missed > t.cfg.MaxMissed {
				continue
			}
		}
		keep = append(keep, tr)
	}
	t.tracks = keep
	for j, d := range dets {
		if t.used[j] || d.Box.Empty() {
			continue
		}
		t.tracks = append(t.tracks, newSortTrack(t.nextID, d, t.cfg.MinHits <= 1))
		t.nextID++
	}

	t.out = t.out[:0]
	for i := range t.tracks {
		tr := &t.tracks[i]
		t.out = append(t.out, Track{ID: tr.id, Class: tr.class, Box: tr.box().rect(),
			Hits: tr.hits, Missed: tr.missed, Confirmed: tr.confirmed})
	}
	return t.out
}

// matchGated is the second stage of association, run on the first frame the
// detector sees after it skipped some (counting's every > 1, a live camera's
// frames between detections): tracks and
// detections the IoU stage left apart are matched by how far the detection
// lies from the track's prediction in units of the filter's own uncertainty
// (DeepSORT's Mahalanobis gate, on the centre), among pairs of one class and
// similar size. Over a gap of a few frames a walker moves further than its
// box overlaps, above all on a new track whose speed is not known yet; the
// uncertainty grows with every frame predicted and shrinks as the speed is
// learnt, so the gate is wide exactly where the prediction is weak. With the
// detector on every frame IoU alone decides, as in SORT: there the gate
// re-attached occluded tracks to passers-by and added false line crossings
// on vtest.avi (eval's TestCountingAccuracy).
func (t *Tracker) matchGated(dets []detect.Detection) {
	t.ut, t.ud = t.ut[:0], t.ud[:0]
	for i := range t.tracks {
		if t.tracks[i].matched < 0 {
			t.ut = append(t.ut, i)
		}
	}
	for j, d := range dets {
		if !t.used[j] && !d.Box.Empty() {
			t.ud = append(t.ud, j)
		}
	}
	if len(t.ut) == 0 || len(t.ud) == 0 {
		return
	}
	rows, cols, trackRows := len(t.ut), len(t.ud), true
	if rows > cols {
		rows, cols, trackRows = cols, rows, false
	}
	t.cost = grow(t.cost, rows*cols)
	forbid := float64(rows + 1) // allowed pairs cost at most 1
	anyPair := false
	for a, ti := range t.ut {
		tr := &t.tracks[ti]
		for b, di := range t.ud {
			c := forbid
			if d := dets[di]; tr.class == d.Class {
				if m, ok := tr.gate(d.Box); ok {
					c, anyPair = m/gateChi2, true
				}
			}
			if trackRows {
				t.cost[a*cols+b] = c
			} else {
				t.cost[b*cols+a] = c
			}
		}
	}
	if anyPair {
		t.assign(rows, cols, trackRows, forbid, func(a, b int) {
			t.tracks[t.ut[a]].matched = t.ud[b]
			t.used[t.ud[b]] = true
		})
	}
}

// assign solves t.cost (rows x cols; rows are tracks if trackRows, else
// detections) and calls match(track, detection) for every pair it assigns
// at less than forbid.
func (t *Tracker) assign(rows, cols int, trackRows bool, forbid float64, match func(track, det int)) {
	colRow := t.hung.solve(t.cost, rows, cols) // colRow[j] = row of column j, or -1
	for j, r := range colRow {
		if r < 0 || t.cost[r*cols+j] >= forbid {
			continue
		}
		if trackRows {
			match(r, j)
		} else {
			match(j, r)
		}
	}
}

// Gates of the second association stage: the squared distance of the
// detection's centre from the prediction, in standard deviations of the
// predicted centre plus the measurement noise, may be at most gateChi2 (the
// chi-square 95 % quantile for 2 degrees of freedom, as DeepSORT gates); and
// the detection's width and height may differ from the prediction's by at
// most a factor gateSize each. The first gate's reach grows with the gap: a
// track seen once, 4 frames on, takes detections about 5 widths away. A
// bound of half a box (or a whole box) per frame on top of it found 1-2
// fewer of vtest.avi's 27 crossings with detections 3-5 frames apart, over
// four gap sequences, so there is none.
const (
	gateChi2 = 5.9915
	gateSize = 1.5
)

// gate returns the squared Mahalanobis distance of b's centre from the
// track's predicted centre, and whether b passes every gate.
func (s *sortTrack) gate(b image.Rectangle) (float64, bool) {
	w, h := s.sizes()
	bw, bh := float64(b.Dx()), float64(b.Dy())
	if bw > gateSize*w || w > gateSize*bw || bh > gateSize*h || h > gateSize*bh {
		return 0, false
	}
	cx, cy := centre(b)
	rx, ry := posWeight*w, posWeight*h
	dx, dy := cx-s.cx.x, cy-s.cy.x
	m := dx*dx/(s.cx.pxx+rx*rx) + dy*dy/(s.cy.pxx+ry*ry)
	return m, m <= gateChi2
}

// Noise weights, as shares of the box size (DeepSORT's). velInitCentre is
// larger than DeepSORT's 1/16 so a new track learns its speed from its second
// detection: a walker at 640 px moves a fifth of its width per frame.
const (
	posWeight     = 1.0 / 20  // measurement and position process noise
	velWeight     = 1.0 / 160 // velocity process noise, per frame
	velInitCentre = 1.0 / 2   // initial velocity uncertainty, centre
	velInitSize   = 1.0 / 16  // initial velocity uncertainty, width and height
)

// axis is a constant-velocity Kalman filter on one coordinate, time step one
// frame: state (x, v), covariance [[pxx pxv] [pxv pvv]], observation x.
type axis struct {
	x, v          float64
	pxx, pxv, pvv float64
}

func newAxis(z, size, velInit float64) axis {
	sp, sv := 2*posWeight*size, velInit*size
	return axis{x: z, pxx: sp * sp, pvv: sv * sv}
}

// predict: x += v; P = F P F' + Q with F = [[1 1] [0 1]].
func (a *axis) predict(size float64) {
	qp, qv := posWeight*size, velWeight*size
	a.x += a.v
	a.pxx += 2*a.pxv + a.pvv + qp*qp
	a.pxv += a.pvv
	a.pvv += qv * qv
}

// correct folds in a measurement z: K = P H' / (H P H' + R), P = (I - K H) P.
func (a *axis) correct(z, size float64) {
	r := posWeight * size
	s := a.pxx + r*r
	k0, k1 := a.pxx/s, a.pxv/s
	y := z - a.x
	a.x += k0 * y
	a.v += k1 * y
	pxx, pxv := a.pxx, a.pxv
	a.pxx = (1 - k0) * pxx
	a.pxv = (1 - k0) * pxv
	a.pvv -= k1 * pxv
}

type sortTrack struct {
	id           uint64
	class        detect.Class
	cx, cy, w, h axis
	hits, missed int
	confirmed    bool
	matched      int // detection index this frame, -1 for none
}

func newSortTrack(id uint64, d detect.Detection, confirmed bool) sortTrack {
	b := d.Box
	w, h := float64(b.Dx()), float64(b.Dy())
	cx, cy := centre(b)
	return sortTrack{
		id: id, class: d.Class, hits: 1, confirmed: confirmed, matched: -1,
		cx: newAxis(cx, w, velInitCentre), cy: newAxis(cy, h, velInitCentre),
		w: newAxis(w, w, velInitSize), h: newAxis(h, h, velInitSize),
	}
}

// sizes are the noise scales: never below a pixel, so a filter never divides
// by zero.
func (s *sortTrack) sizes() (float64, float64) {
	return math.Max(s.w.x, 1), math.Max(s.h.x, 1)
}

func (s *sortTrack) predict() {
	w, h := s.sizes()
	s.cx.predict(w)
	s.cy.predict(h)
	s.w.predict(w)
	s.h.predict(h)
	// A shrinking box stops shrinking at a pixel instead of turning inside out.
	if s.w.x < 1 {
		s.w.x, s.w.v = 1, 0
	}
	if s.h.x < 1 {
		s.h.x, s.h.v = 1, 0
	}
}

func (s *sortTrack) correct(b image.Rectangle) {
	w, h := s.sizes()
	cx, cy := centre(b)
	s.cx.correct(cx, w)
	s.cy.correct(cy, h)
	s.w.correct(float64(b.Dx()), w)
	s.h.correct(float64(b.Dy()), h)
}

func (s *sortTrack) box() box {
	w, h := math.Max(s.w.x, 1), math.Max(s.h.x, 1)
	return box{s.cx.x - w/2, s.cy.x - h/2, s.cx.x + w/2, s.cy.x + h/2}
}

// box is a rectangle in float pixels: predictions are not rounded before
// they are compared.
type box struct{ x0, y0, x1, y1 float64 }

func (b box) iou(r image.Rectangle) float64 {
	rx0, ry0, rx1, ry1 := float64(r.Min.X), float64(r.Min.Y), float64(r.Max.X), float64(r.Max.Y)
	iw := math.Min(b.x1, rx1) - math.Max(b.x0, rx0)
	ih := math.Min(b.y1, ry1) - math.Max(b.y0, ry0)
	if iw <= 0 || ih <= 0 {
		return 0
	}
	in := iw * ih
	return in / ((b.x1-b.x0)*(b.y1-b.y0) + (rx1-rx0)*(ry1-ry0) - in)
}

func (b box) rect() image.Rectangle {
	x0, y0 := int(math.Round(b.x0)), int(math.Round(b.y0))
	return image.Rect(x0, y0, x0+max(1, int(math.Round(b.x1-b.x0))), y0+max(1, int(math.Round(b.y1-b.y0))))
}

// hungarian solves the rectangular assignment problem (rows <= cols) by the
// shortest augmenting path method with potentials, O(rows^2 * cols). Its
// buffers are reused.
type hungarian struct {
	u, v, minv []float64
	p, way     []int
	used       []bool
	colRow     []int
}

// solve returns, for each column, the row assigned to it or -1. cost is
// row-major, rows x cols, rows <= cols.
func (h *hungarian) solve(cost []float64, rows, cols int) []int {
	h.u = grow(h.u, rows+1)
	h.v = grow(h.v, cols+1)
	h.minv = grow(h.minv, cols+1)
	h.p = grow(h.p, cols+1)
	h.way = grow(h.way, cols+1)
	h.used = grow(h.used, cols+1)
	clear(h.u)
	clear(h.v)
	clear(h.p)
	clear(h.way)
	u, v, minv, p, way, used := h.u, h.v, h.minv, h.p, h.way, h.used
	// 1-based: p[j] is the row (1..rows) matched to column j, 0 for none;
	// column 0 is the virtual start of each augmenting path.
	for i := 1; i <= rows; i++ {
		p[0] = i
		j0 := 0
		for j := range minv {
			minv[j] = math.Inf(1)
			used[j] = false
		}
		for {
			used[j0] = true
			i0, delta, j1 := p[j0], math.Inf(1), 0
			row := cost[(i0-1)*cols:]
			for j := 1; j <= cols; j++ {
				if used[j] {
					continue
				}
				if cur := row[j-1] - u[i0] - v[j]; cur < minv[j] {
					minv[j], way[j] = cur, j0
				}
				if minv[j] < delta {
					delta, j1 = minv[j], j
				}
			}
			for j := 0; j <= cols; j++ {
				if used[j] {
					u[p[j]] += delta
					v[j] -= delta
				} else {
					minv[j] -= delta
				}
			}
			j0 = j1
			if p[j0] == 0 {
				break
			}
		}
		for j0 != 0 {
			j1 := way[j0]
			p[j0] = p[j1]
			j0 = j1
		}
	}
	h.colRow = grow(h.colRow, cols)
	for j := 1; j <= cols; j++ {
		h.colRow[j-1] = p[j] - 1
	}
	return h.colRow
}

// grow returns s with length n, reusing its array when it is large enough.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
