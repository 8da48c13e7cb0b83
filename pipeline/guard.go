package pipeline

import (
	"image"
	"image/color"
	"math"
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
// Change is judged on two grids. The coarse one has tile reuse's blocks
// (detect.Reuse): the frame's grey level averaged over detect.ReuseBlock-pixel
// blocks, where a block changed when its mean moved by about the threshold
// (exactly: below). The fine one averages 2x2 pixels, where a cell changed
// when its mean moved by more than twice the threshold (noise in a 4-pixel
// mean is twice that in a 16-pixel one). A face's eyes and mouth are a few
// pixels wide: sharpening, or a hand moving off a face, can leave every
// coarse mean within the threshold and still move the fine ones (measured on
// the faces set: bench/README.md). Changed (the frame path, the motion gate)
// counts a block changed when either grid says so; Unchanged (Sticky, which
// keeps a box while its region stays put) judges on the coarse grid alone,
// so a box is not dropped for a flicker of its eyes.
//
// The means are exact: the thumb holds wideScale times each 2x2 mean in 16
// bits (a whole number), and the 4x4 means are made from it without rounding.
// Tile reuse's 4x4 rule (detect.BlockThumb: means rounded to grey levels,
// more than threshold apart) finds a block changed only if its exact means
// are at least floor(threshold) apart, and unchanged only if they are at
// most floor(threshold)+1 apart. So Changed counts a block whose exact mean
// moved by at least floor(threshold), and Unchanged calls a region changed
// only where one moved by more than floor(threshold)+1: each errs on the side
// that masks more, and neither does less than that rule did.
type Guard struct {
	threshold float64
	dilate    int // blocks added around each changed block
	gray      gocv.Mat
	padded    gocv.Mat // gray extended to whole blocks
	diff      gocv.Mat
	mask      gocv.Mat // changed blocks (8-bit, the coarse grid)
	fine      gocv.Mat // fine-grid change, then folded onto the coarse grid
	wide      gocv.Mat // gray in 16 bits, scaled by wideScale
	coarseCur gocv.Mat // the thumbs' coarse grids, then scratch
	coarseRef gocv.Mat
	fineDiff  gocv.Mat // the thumbs' difference (16-bit, the fine grid)
	kernel    gocv.Mat
	labels    gocv.Mat
	stats     gocv.Mat
	centroids gocv.Mat
	cover     gocv.Mat // the regions returned, on the block grid
	share     float64  // share of the frame the last Changed returned
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

// NewGuard makes a guard: a block changed when its mean grey moved by about
// threshold (see Guard), or one of its 2x2 cells by more than twice it;
// changed areas are grown by dilate blocks on each side.
func NewGuard(threshold float64, dilate int) *Guard {
	k := 2*max(dilate, 0) + 1
	return &Guard{threshold: threshold, dilate: dilate, gray: gocv.NewMat(), padded: gocv.NewMat(), diff: gocv.NewMat(), mask: gocv.NewMat(),
		fine: gocv.NewMat(), wide: gocv.NewMat(), coarseCur: gocv.NewMat(), coarseRef: gocv.NewMat(), fineDiff: gocv.NewMat(),
		kernel: gocv.GetStructuringElement(gocv.MorphRect, image.Pt(k, k)),
		labels: gocv.NewMat(), stats: gocv.NewMat(), centroids: gocv.NewMat(), cover: gocv.NewMat()}
}

// Close frees the guard's buffers.
func (g *Guard) Close() {
	for _, m := range []*gocv.Mat{&g.gray, &g.padded, &g.diff, &g.mask, &g.fine, &g.wide, &g.coarseCur, &g.coarseRef, &g.fineDiff, &g.kernel, &g.labels, &g.stats, &g.centroids, &g.cover} {
		m.Close()
	}
}

// Thumb writes the guard's picture of img into dst: img's grey averaged
// over 2x2 pixels (the fine grid), times wideScale, 16-bit (img is 8-bit
// BGR). A frame whose sides are not multiples of detect.ReuseBlock is first
// extended to them by repeating its last row and column, so every cell and
// block is exactly 2 and 4 pixels wide and sits where Changed says (an area
// resize to a size that does not divide would drift by up to a block across
// the frame). Changed and Unchanged compare two such thumbs.
func (g *Guard) Thumb(img gocv.Mat, dst *gocv.Mat) {
	gocv.CvtColor(img, &g.gray, gocv.ColorBGRToGray)
	b := detect.ReuseBlock
	src := g.gray
	right, bottom := (b-img.Cols()%b)%b, (b-img.Rows()%b)%b
	if right > 0 || bottom > 0 {
		gocv.CopyMakeBorder(g.gray, &g.padded, 0, bottom, 0, right, gocv.BorderReplicate, color.RGBA{})
		src = g.padded
	}
	src.ConvertToWithParams(&g.wide, gocv.MatTypeCV16U, wideScale, 0)
	gocv.Resize(g.wide, dst, image.Pt(src.Cols()/2, src.Rows()/2), 0, 0, gocv.InterpolationArea)
}

// wideScale: the thumb holds 16x the 2x2 means, which are then whole numbers
// (4x each cell's sum), as are the 4x4 means made from them (each block's sum):
// no rounding anywhere.
const wideScale = 16

// coarseSize is the coarse grid of a thumb: one cell per ReuseBlock pixels
// (a thumb's sides are even, and Unchanged cuts whole blocks from it).
func coarseSize(thumb gocv.Mat) image.Point {
	h := detect.ReuseBlock / 2
	return image.Pt(max(1, (thumb.Cols()+h-1)/h), max(1, (thumb.Rows()+h-1)/h))
}

// changedSums and unchangedSums are the least difference of two blocks'
// sums (wideScale times their means: whole numbers) that Changed and
// Unchanged count as a change (see Guard). Any difference at all counts for
// a threshold under 1.
func changedSums(threshold float64) float64 {
	return max(1, wideScale*math.Floor(threshold))
}

func unchangedSums(threshold float64) float64 {
	return max(1, wideScale*(math.Floor(threshold)+1)+1)
}

// changeMask writes into g.mask, on cur's coarse grid, the blocks where cur
// and ref (thumbs of the same size) differ: a 4x4 block's sum by at least
// minSums (see changedSums), or (if fine) a 2x2 cell's mean by more than
// twice the threshold. It returns how many.
func (g *Guard) changeMask(cur, ref gocv.Mat, minSums float64, fine bool) int {
	sz := coarseSize(cur)
	gocv.Resize(cur, &g.coarseCur, sz, 0, 0, gocv.InterpolationArea)
	gocv.Resize(ref, &g.coarseRef, sz, 0, 0, gocv.InterpolationArea)
	gocv.AbsDiff(g.coarseCur, g.coarseRef, &g.coarseCur)
	gocv.Threshold(g.coarseCur, &g.coarseCur, float32(minSums-1), 255, gocv.ThresholdBinary) // sums are whole: > minSums-1 is >= minSums
	g.coarseCur.ConvertTo(&g.mask, gocv.MatTypeCV8U)
	if !fine {
		return gocv.CountNonZero(g.mask)
	}
	gocv.AbsDiff(cur, ref, &g.fineDiff)
	gocv.Threshold(g.fineDiff, &g.fineDiff, float32(wideScale*2*g.threshold), 255, gocv.ThresholdBinary)
	g.fineDiff.ConvertTo(&g.fine, gocv.MatTypeCV8U)
	if gocv.CountNonZero(g.fine) > 0 {
		// Fold the fine cells onto their blocks: any changed cell (255) leaves
		// its block's area average above 0.
		gocv.Resize(g.fine, &g.diff, sz, 0, 0, gocv.InterpolationArea)
		gocv.Threshold(g.diff, &g.diff, 0, 255, gocv.ThresholdBinary)
		gocv.BitwiseOr(g.mask, g.diff, &g.mask)
	}
	return gocv.CountNonZero(g.mask)
}

// Changed returns, in the pixels of a w x h frame, the regions where cur
// differs from ref (two thumbs of such frames), grown by the guard's
// dilation. If the thumbs do not match in size, or there are more than
// MaxGuardRegions regions, the whole frame is returned.
func (g *Guard) Changed(cur, ref gocv.Mat, w, h int) []image.Rectangle {
	all := []image.Rectangle{image.Rect(0, 0, w, h)}
	g.share = 1
	if cur.Empty() || ref.Empty() || cur.Cols() != ref.Cols() || cur.Rows() != ref.Rows() || cur.Type() != ref.Type() {
		return all
	}
	if g.changeMask(cur, ref, changedSums(g.threshold), true) == 0 {
		g.share = 0
		return nil
	}
	if g.dilate > 0 {
		gocv.Dilate(g.mask, &g.mask, g.kernel)
	}
	n := gocv.ConnectedComponentsWithStats(g.mask, &g.labels, &g.stats, &g.centroids)
	if n-1 > MaxGuardRegions {
		return all
	}
	b := detect.ReuseBlock
	bounds := image.Rect(0, 0, w, h)
	out := make([]image.Rectangle, 0, n-1)
	if g.cover.Rows() != g.mask.Rows() || g.cover.Cols() != g.mask.Cols() {
		g.cover.Close()
		g.cover = gocv.NewMatWithSize(g.mask.Rows(), g.mask.Cols(), gocv.MatTypeCV8U)
	}
	g.cover.SetTo(gocv.NewScalar(0, 0, 0, 0))
	for i := 1; i < n; i++ { // label 0 is the unchanged background
		x, y := int(g.stats.GetIntAt(i, 0)), int(g.stats.GetIntAt(i, 1))
		cw, ch := int(g.stats.GetIntAt(i, 2)), int(g.stats.GetIntAt(i, 3))
		out = append(out, image.Rect(x*b, y*b, (x+cw)*b, (y+ch)*b).Intersect(bounds))
		r := g.cover.Region(image.Rect(x, y, x+cw, y+ch))
		r.SetTo(gocv.NewScalar(255, 0, 0, 0))
		r.Close()
	}
	g.share = float64(gocv.CountNonZero(g.cover)) / float64(g.mask.Rows()*g.mask.Cols())
	return out
}

// Share is the share of the frame (on the block grid) covered by the
// regions the last Changed returned: the precision the guard cost.
func (g *Guard) Share() float64 { return g.share }

// GuardRecheck bounds the motion gate: a guard-mode camera runs detection at
// least this often (by capture time) even on a scene that has not changed,
// so no result stands on the guard's comparison alone for longer.
const GuardRecheck = 10 * time.Second

// Unchanged reports whether the blocks under r (frame pixels) are the same,
// within the threshold, in the thumbs cur and ref. It judges 4x4 means only
// (Sticky's rule: a kept box is not dropped for a change only 2x2 cells see).
func (g *Guard) Unchanged(cur, ref gocv.Mat, r image.Rectangle) bool {
	if cur.Empty() || cur.Cols() != ref.Cols() || cur.Rows() != ref.Rows() || cur.Type() != ref.Type() {
		return false
	}
	// Whole blocks under r, on the fine grid (two cells a block).
	b, h := detect.ReuseBlock, detect.ReuseBlock/2
	br := image.Rect(r.Min.X/b*h, r.Min.Y/b*h, (r.Max.X+b-1)/b*h, (r.Max.Y+b-1)/b*h).Intersect(image.Rect(0, 0, cur.Cols(), cur.Rows()))
	if br.Empty() {
		return false
	}
	c, f := cur.Region(br), ref.Region(br)
	defer c.Close()
	defer f.Close()
	return g.changeMask(c, f, unchangedSums(g.threshold), false) == 0
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
