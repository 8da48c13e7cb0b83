package detect

import (
	"image"

	"gocv.io/x/gocv"
)

// Reuse lets a detector skip a tile whose pixels have not changed since the
// network last looked at it, and answer with what it found then. A fixed
// camera's background is most of its frame: only the tiles where something
// moved are run again. Change is judged as the live guard judges it
// (Change, strictly), against the tile as it was when it was last run (not
// the previous frame), so slow drift adds up and is noticed.
type Reuse struct {
	// Threshold: a tile has changed when one of its blocks' mean grey moved
	// by about this (0-255), or as Change says. 0 turns reuse off.
	Threshold float64 `json:"threshold"`
	// MaxAge: a tile is run again after this many frames answered from the
	// memo, changed or not (a bound on how long a miss can last).
	MaxAge int `json:"max_age"`
}

// ReuseBlock is the side in pixels of the blocks change is judged on: a
// face 8 px wide fills at least one.
const ReuseBlock = 4

// Enabled reports whether r turns reuse on.
func (r Reuse) Enabled() bool { return r.Threshold > 0 && r.MaxAge > 0 }

// TileStats counts a detector's tiles: run through the network, or
// answered from the memo because nothing changed. A pass whose tiles ran
// as one input counts one run, and one merged.
type TileStats struct {
	Run    int `json:"run"`
	Reused int `json:"reused"`
	Merged int `json:"merged"`
}

// Add sums two counts.
func (s TileStats) Add(o TileStats) TileStats {
	return TileStats{Run: s.Run + o.Run, Reused: s.Reused + o.Reused, Merged: s.Merged + o.Merged}
}

// memo holds, per tile, the block-averaged grey it was last run on and what
// the network found there.
type memo struct {
	cfg    Reuse
	size   image.Point // frame size the tiles are for
	change *Change
	thumb  gocv.Mat // the current frame's (Change.Thumb)
	tiles  map[memoKey]*tileMemo
	reused int
}

type memoKey struct {
	pass int
	src  image.Rectangle
}

type tileMemo struct {
	m       *memo
	ref     gocv.Mat // the thumb under the tile when it was last run
	dets    []Detection
	age     int
	changed bool
}

func newMemo(r Reuse) *memo {
	return &memo{cfg: r, change: NewChange(r.Threshold), thumb: gocv.NewMat(), tiles: map[memoKey]*tileMemo{}}
}

func (m *memo) close() {
	m.reset()
	m.change.Close()
	m.thumb.Close()
}

func (m *memo) reset() {
	for k, t := range m.tiles {
		t.ref.Close()
		delete(m.tiles, k)
	}
}

// begin takes in a new frame (already checked: 8-bit BGR, at least 2x2).
func (m *memo) begin(img gocv.Mat) {
	size := image.Pt(img.Cols(), img.Rows())
	if size != m.size {
		m.reset()
		m.size = size
	}
	m.change.Thumb(img, &m.thumb)
}

// blocks is the whole blocks under a tile, in the thumb's cells.
func (m *memo) blocks(src image.Rectangle) image.Rectangle {
	return BlockCells(src, image.Pt(m.thumb.Cols(), m.thumb.Rows()))
}

// lookup returns the tile's memo and whether its pixels changed.
func (m *memo) lookup(pass int, src image.Rectangle) *tileMemo {
	k := memoKey{pass, src}
	t, ok := m.tiles[k]
	if !ok {
		t = &tileMemo{m: m, ref: gocv.NewMat(), age: -1}
		m.tiles[k] = t
	}
	t.changed = true
	r := m.blocks(src)
	if t.age >= 0 && !r.Empty() && t.ref.Cols() == r.Dx() && t.ref.Rows() == r.Dy() {
		cur := m.thumb.Region(r)
		t.changed = !m.change.Same(cur, t.ref)
		cur.Close()
	}
	return t
}

// reusable reports whether the tile's stored boxes still stand: its pixels
// have not changed since it was run, and not too many frames ago.
func (t *tileMemo) reusable() bool {
	return !t.changed && t.age >= 0 && t.age < t.m.cfg.MaxAge
}

// fresh reports whether the tile can be answered from the memo, and counts
// it if so.
func (t *tileMemo) fresh() bool {
	if !t.reusable() {
		return false
	}
	t.age++
	t.m.reused++
	return true
}

// store records what the network found on the tile src just run.
func (t *tileMemo) store(src image.Rectangle, dets []Detection) {
	r := t.m.blocks(src)
	if r.Empty() {
		t.age = -1
		return
	}
	cur := t.m.thumb.Region(r)
	cur.CopyTo(&t.ref)
	cur.Close()
	t.dets = append(t.dets[:0], dets...)
	t.age = 0
}

// regionMemo is tile reuse for searches inside a region (the plate search
// inside each vehicle): a region whose pixels have not changed since it was
// last searched at the same zoom is answered with what was found then. The
// caller keeps regions stable (a parked car's box jitters by a few pixels; the
// engine snaps it outward to a grid).
type regionMemo struct {
	cfg     Reuse
	change  *Change
	thumb   gocv.Mat // the region being looked up (Change.Thumb)
	entries map[regionKey]*regionEntry
	calls   int
	reused  int
}

type regionKey struct {
	frame    image.Point // frame size
	roi      image.Rectangle
	zoom     float64
	maxTiles int
}

type regionEntry struct {
	ref  gocv.Mat
	dets []Detection
	age  int // answers from memory since it was last searched
	used int // calls count when last looked up
}

func newRegionMemo(r Reuse) *regionMemo {
	return &regionMemo{cfg: r, change: NewChange(r.Threshold), thumb: gocv.NewMat(), entries: map[regionKey]*regionEntry{}}
}

func (m *regionMemo) close() {
	for k, e := range m.entries {
		e.ref.Close()
		delete(m.entries, k)
	}
	m.change.Close()
	m.thumb.Close()
}

// settle returns the region to search for k: a remembered region at the
// same zoom that contains k's (the smallest), else the union of k's with a
// remembered region of the same vehicle (overlapping it by IoU >= 0.5), else
// k. Either must be at most settleGrowth times k's area and be searched at
// no less magnification than k's (scale gives it: a region too large for
// the tile bound is magnified less). A parked car's box from Yolo moves by
// 10-25 px between frames (measured on vtest.avi's parked cars), more than
// the engine's 16 px grid: without this each frame's box was a new region,
// searched again though nothing in it had changed. The region searched
// always contains k's, so nothing inside k's goes unsearched or is searched
// smaller.
//
// input, when not nil, names the network input a region goes through
// (larger ones cost more): a region needing a larger input than k's is then
// not taken. (A 96x64 car region at 4x fits 448x448; grown by a jittered
// box to 128x64 it needed 640x640, twice the CPU each time it ran.)
func (m *regionMemo) settle(k regionKey, scale func(image.Rectangle) float64, input func(image.Rectangle) zoomedInput) regionKey {
	kScale := scale(k.roi)
	var kIn zoomedInput
	if input != nil {
		kIn = input(k.roi)
	}
	fits := func(e regionKey) bool {
		return e.frame == k.frame && e.zoom == k.zoom && e.maxTiles == k.maxTiles &&
			area(e.roi) <= settleGrowth*area(k.roi) && scale(e.roi) >= kScale &&
			(input == nil || input(e.roi) == kIn)
	}
	smaller := func(a, b image.Rectangle) bool { // a total order: map order must not matter
		switch {
		case area(a) != area(b):
			return area(a) < area(b)
		case a.Min != b.Min:
			return a.Min.X < b.Min.X || (a.Min.X == b.Min.X && a.Min.Y < b.Min.Y)
		}
		return a.Max.X < b.Max.X
	}
	var in, grown *regionKey
	for e := range m.entries {
		switch {
		case k.roi.In(e.roi):
			if fits(e) && (in == nil || smaller(e.roi, in.roi)) {
				in = &e
			}
		case IoU(e.roi, k.roi) >= 0.5:
			u := e
			u.roi = e.roi.Union(k.roi)
			if fits(u) && (grown == nil || smaller(u.roi, grown.roi)) {
				grown = &u
			}
		}
	}
	switch {
	case in != nil:
		return *in
	case grown != nil:
		return *grown
	}
	return k
}

// settleGrowth bounds how much larger than a vehicle's own region the
// region searched for it may be (settle).
const settleGrowth = 1.5

// get thumbs k's region of img (kept for put) and returns what was found
// there last time if it has not changed.
func (m *regionMemo) get(img gocv.Mat, k regionKey) ([]Detection, bool) {
	m.calls++
	region := img.Region(k.roi)
	m.change.Thumb(region, &m.thumb)
	region.Close()
	e, ok := m.entries[k]
	if !ok {
		return nil, false
	}
	e.used = m.calls
	if e.age >= m.cfg.MaxAge || e.ref.Cols() != m.thumb.Cols() || e.ref.Rows() != m.thumb.Rows() {
		return nil, false
	}
	if !m.change.Same(m.thumb, e.ref) {
		return nil, false
	}
	e.age++
	m.reused++
	return e.dets, true
}

// put records what the search of k's region (just thumbed by get) found,
// and forgets regions not looked up for a while.
func (m *regionMemo) put(k regionKey, dets []Detection) {
	e, ok := m.entries[k]
	if !ok {
		e = &regionEntry{ref: gocv.NewMat()}
		m.entries[k] = e
	}
	m.thumb.CopyTo(&e.ref)
	e.dets = append(e.dets[:0], dets...)
	e.age, e.used = 0, m.calls
	if m.calls%64 == 0 {
		for k, e := range m.entries {
			if m.calls-e.used > 256 {
				e.ref.Close()
				delete(m.entries, k)
			}
		}
	}
}
