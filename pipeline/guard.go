package pipeline

import (
	"image"
	"time"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/detect"
)

// Guard is what lets a live camera send every frame while detection runs
// at its own, slower rate, without ever sending a face detection has not
// looked at. Between two detections a frame is redacted with the regions the
// last detection found plus every block that changed since the frame that
// detection ran on: a face can only have appeared, or moved, where pixels
// changed. Speed is bought with precision (moving things are masked until
// detection catches up), never with recall.
//
// Change is judged by detect.Change, tile reuse's rule too (see there):
// Changed (the frame path, the motion gate) judges strictly, on 4x4 block
// means, 2x2 cell means and the blocks' detail; Unchanged (Sticky, which
// keeps a box while its region stays put) leniently, on 4x4 means alone, so
// a box is not dropped for a flicker of its eyes.
type Guard struct {
	change    *detect.Change
	dilate    int      // blocks added around each changed block
	mask      gocv.Mat // changed blocks, dilated
	kernel    gocv.Mat
	cvLabels  gocv.Mat
	stats     gocv.Mat
	centroids gocv.Mat
	cover     gocv.Mat // the regions returned, on the block grid
	share     float64  // share of the frame the last Changed returned

	// blockRegions' scratch.
	grown, tmp          []uint8
	runs, parent, boxes []int32
}

// GuardThreshold is the default change threshold, in grey levels of a
// block's mean (the same as tile reuse's); twice it for a 2x2 cell's.
const GuardThreshold = 10

// GuardDilate is the default growth of changed areas, in blocks: the
// edges of a moving face change most, its middle may not.
const GuardDilate = 2

// StickyMaxAge is how many detection results a still region found once
// stays redacted for.
const StickyMaxAge = 50

// MaxGuardRegions bounds the regions a guard returns: more changed regions
// than this and the whole frame is reported changed.
const MaxGuardRegions = 256

// NewGuard makes a guard judging change at threshold (detect.Change);
// changed areas are grown by dilate blocks on each side.
func NewGuard(threshold float64, dilate int) *Guard {
	k := 2*max(dilate, 0) + 1
	return &Guard{change: detect.NewChange(threshold), dilate: dilate, mask: gocv.NewMat(),
		kernel:   gocv.GetStructuringElement(gocv.MorphRect, image.Pt(k, k)),
		cvLabels: gocv.NewMat(), stats: gocv.NewMat(), centroids: gocv.NewMat(), cover: gocv.NewMat()}
}

// Close frees the guard's buffers.
func (g *Guard) Close() {
	g.change.Close()
	for _, m := range []*gocv.Mat{&g.mask, &g.kernel, &g.cvLabels, &g.stats, &g.centroids, &g.cover} {
		m.Close()
	}
}

// Thumb writes the guard's picture of img into dst (detect.Change.Thumb);
// Changed and Unchanged compare two such thumbs.
func (g *Guard) Thumb(img gocv.Mat, dst *gocv.Mat) { g.change.Thumb(img, dst) }

// Changed returns, in the pixels of a w x h frame, the regions where cur
// differs from ref (two thumbs of such frames), grown by the guard's
// dilation. If the thumbs do not match in size, or there are more than
// MaxGuardRegions regions, the whole frame is returned.
func (g *Guard) Changed(cur, ref gocv.Mat, w, h int) []image.Rectangle {
	g.share = 1
	if !detect.Fits(cur, ref) {
		return []image.Rectangle{image.Rect(0, 0, w, h)}
	}
	mask, n := g.change.Mask(cur, ref, true)
	return g.regions(mask, n, w, h)
}

// SetRef makes ref (a thumb) the one ChangedRef compares frames with, until
// the next SetRef. The guard keeps a copy, with its grids: a camera's frames
// are all compared with the last detection's frame, which then costs once.
func (g *Guard) SetRef(ref gocv.Mat) { g.change.SetRef(ref) }

// ChangedRef is Changed(cur, the thumb last given to SetRef, w, h).
func (g *Guard) ChangedRef(cur gocv.Mat, w, h int) []image.Rectangle {
	g.share = 1
	if !g.change.RefFits(cur) {
		return []image.Rectangle{image.Rect(0, 0, w, h)}
	}
	mask, n := g.change.MaskRef(cur)
	return g.regions(mask, n, w, h)
}

// regions turns n changed blocks in mask into the regions Changed returns,
// in the pixels of a w x h frame, and sets the share they cover.
func (g *Guard) regions(mask gocv.Mat, n, w, h int) []image.Rectangle {
	if n == 0 {
		g.share = 0
		return nil
	}
	all := []image.Rectangle{image.Rect(0, 0, w, h)}
	b := detect.ReuseBlock
	bounds := image.Rect(0, 0, w, h)
	blocks, n, covered, ok := g.blockRegions(mask)
	if !ok {
		blocks, n, covered = g.cvRegions(mask)
	}
	if n > MaxGuardRegions {
		g.share = 1
		return all
	}
	for i, r := range blocks { // from the block grid to pixels, in place
		blocks[i] = image.Rect(r.Min.X*b, r.Min.Y*b, r.Max.X*b, r.Max.Y*b).Intersect(bounds)
	}
	g.share = float64(covered) / float64(mask.Rows()*mask.Cols())
	return blocks
}

// cvRegions is blockRegions in OpenCV's calls (Dilate,
// ConnectedComponentsWithStats), for a mask it does not take.
func (g *Guard) cvRegions(mask gocv.Mat) (boxes []image.Rectangle, n int, covered int) {
	if g.dilate > 0 {
		gocv.Dilate(mask, &g.mask, g.kernel)
	} else {
		mask.CopyTo(&g.mask)
	}
	n = gocv.ConnectedComponentsWithStats(g.mask, &g.cvLabels, &g.stats, &g.centroids) - 1 // label 0 is the unchanged background
	if n > MaxGuardRegions {
		return nil, n, 0
	}
	if g.cover.Rows() != g.mask.Rows() || g.cover.Cols() != g.mask.Cols() {
		g.cover.Close()
		g.cover = gocv.NewMatWithSize(g.mask.Rows(), g.mask.Cols(), gocv.MatTypeCV8U)
	}
	g.cover.SetTo(gocv.NewScalar(0, 0, 0, 0))
	boxes = make([]image.Rectangle, 0, n)
	for i := 1; i <= n; i++ {
		x, y := int(g.stats.GetIntAt(i, 0)), int(g.stats.GetIntAt(i, 1))
		cw, ch := int(g.stats.GetIntAt(i, 2)), int(g.stats.GetIntAt(i, 3))
		boxes = append(boxes, image.Rect(x, y, x+cw, y+ch))
		r := g.cover.Region(image.Rect(x, y, x+cw, y+ch))
		r.SetTo(gocv.NewScalar(255, 0, 0, 0))
		r.Close()
	}
	return boxes, n, gocv.CountNonZero(g.cover)
}

// Share is the share of the frame (on the block grid) covered by the
// regions the last Changed returned: the precision the guard cost.
func (g *Guard) Share() float64 { return g.share }

// GuardRecheck bounds the motion gate: a guard-mode camera runs detection at
// least this often (by capture time) even on a scene that has not changed,
// so no result stands on the guard's comparison alone for longer.
const GuardRecheck = 10 * time.Second

// Unchanged reports whether the blocks under r (frame pixels) are the same,
// within the threshold, in the thumbs cur and ref. It judges leniently, on
// 4x4 means only (Sticky's rule: a kept box is not dropped for a change only
// 2x2 cells see).
func (g *Guard) Unchanged(cur, ref gocv.Mat, r image.Rectangle) bool {
	if !detect.Fits(cur, ref) {
		return false
	}
	br := detect.BlockCells(r, image.Pt(cur.Cols(), cur.Rows()))
	if br.Empty() {
		return false
	}
	c, f := cur.Region(br), ref.Region(br)
	defer c.Close()
	defer f.Close()
	_, n := g.change.Mask(c, f, false)
	return n == 0
}

// Sticky keeps what detection found in a region for as long as the region's
// pixels do not change (up to a bound): a detector that finds a still face in
// one frame out of three would otherwise let it show in the others.
type Sticky struct {
	maxAge int
	boxes  []stickyBox
}

type stickyBox struct {
	d   detect.Detection
	age int // detection results since it was last found
}

// NewSticky keeps a box for at most maxAge detection results after it was
// last found.
func NewSticky(maxAge int) *Sticky { return &Sticky{maxAge: maxAge} }

// Update takes a detection result (its frame's thumb is cur; the previous
// result's was prev) and returns the boxes to redact: the new ones, plus
// the earlier ones whose blocks did not change between the two results
// (prev is nil for the first result).
func (s *Sticky) Update(g *Guard, dets []detect.Detection, cur gocv.Mat, prev *gocv.Mat) []detect.Detection {
	kept := s.boxes[:0]
	for _, b := range s.boxes {
		if prev != nil && b.age+1 < s.maxAge && g.Unchanged(cur, *prev, b.d.Box) {
			b.age++
			kept = append(kept, b)
		}
	}
	for _, d := range dets {
		kept = append(kept, stickyBox{d: d})
	}
	s.boxes = kept
	out := make([]detect.Detection, len(kept))
	for i, b := range kept {
		out[i] = b.d
	}
	return out
}
