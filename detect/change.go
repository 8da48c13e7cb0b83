package detect

import (
	"image"
	"image/color"
	"math"

	"gocv.io/x/gocv"
)

// Change judges where a frame differs from an earlier one. Tile reuse (a
// tile unchanged since the network last ran on it is answered from memory)
// and the live guard (pipeline.Guard: a frame is sent redacted with the last
// result plus every block changed since the frame that result is for) both
// rest on it, and on the same rule: a change one of them would see, the
// other must see too, or a face the guard trusts detection to have looked at
// could sit in a tile detection answered from an older frame.
//
// Change is judged on the frame's grey level, on two grids. The coarse one
// has ReuseBlock x ReuseBlock blocks, where a block changed when its mean
// moved by about the threshold (exactly: below). The fine one averages 2x2
// pixels, where a cell changed when its mean moved by more than twice the
// threshold (noise in a 4-pixel mean is twice that in a 16-pixel one). A
// face's eyes and mouth are a few pixels wide: sharpening, or a hand moving
// off a face, can leave every coarse mean within the threshold and still
// move the fine ones (measured on the faces set: bench/README.md). And a
// block's detail (how far its four cells lie from its mean, on average)
// changed when it moved by more than detailShare times the threshold: a face
// coming into focus gains detail where no mean moves much.
//
// The means are exact: a thumb holds wideScale times each 2x2 mean in 16
// bits (a whole number), and the 4x4 means are made from it without
// rounding. Strict judging (Changed) counts a block whose exact mean moved
// by at least floor(threshold), or whose cells or detail moved as above;
// lenient judging (the guard's Sticky, which keeps a box while its region
// stays put, so it is not dropped for a flicker of its eyes) calls a block
// changed only where its exact mean moved by more than floor(threshold)+1.
// On the same blocks, rounded 4x4 means more than threshold apart (tile
// reuse's first rule) lie between the two. That rule took its blocks from
// an area resize of the frame itself, whose windows drift across a frame
// whose sides are not multiples of 4; a small change one of its windows
// held whole can straddle two of these blocks. Of 3000 random patches of
// 1-8 px raised by 5-44 grey levels on such frames (854x480, 30x30, 33x31),
// 21-30 were seen by that rule alone and 494-524 by this one alone (none by
// that rule alone on a 64x48 frame).
type Change struct {
	threshold float64
	gray      gocv.Mat
	padded    gocv.Mat // gray extended to whole blocks
	wide      gocv.Mat // gray in 16 bits, scaled by wideScale
	coarseCur gocv.Mat // the thumbs' coarse grids, then scratch
	coarseRef gocv.Mat
	fineDiff  gocv.Mat // the thumbs' difference (16-bit, the fine grid)
	fine      gocv.Mat // fine-grid change, then folded onto the coarse grid
	up        gocv.Mat // scratch: a coarse grid back on the fine one
	detCur    gocv.Mat // each block's detail (grids), cur and ref
	detRef    gocv.Mat
	diff      gocv.Mat
	mask      gocv.Mat // changed blocks (8-bit, the coarse grid)
	ref       gocv.Mat // SetRef's thumb (a copy), its coarse grid and detail
	refCoarse gocv.Mat
	refDetail gocv.Mat
	rows      []uint16 // fastThumb's two rows of grey
}

// NewChange makes a judge of change at threshold grey levels (see Change).
func NewChange(threshold float64) *Change {
	c := &Change{threshold: threshold}
	for _, m := range c.mats() {
		*m = gocv.NewMat()
	}
	return c
}

func (c *Change) mats() []*gocv.Mat {
	return []*gocv.Mat{&c.gray, &c.padded, &c.wide, &c.coarseCur, &c.coarseRef, &c.fineDiff, &c.fine, &c.up, &c.detCur, &c.detRef, &c.diff, &c.mask,
		&c.ref, &c.refCoarse, &c.refDetail}
}

// Close frees the judge's buffers.
func (c *Change) Close() {
	for _, m := range c.mats() {
		m.Close()
	}
}

// Thumb writes what change is judged on into dst: img's grey averaged over
// 2x2 pixels (the fine grid), times wideScale, 16-bit (img is 8-bit BGR). A
// frame whose sides are not multiples of ReuseBlock is first extended to
// them by repeating its last row and column, so every cell and block is
// exactly 2 and 4 pixels wide and sits where the mask says (an area resize
// to a size that does not divide would drift by up to a block across the
// frame).
func (c *Change) Thumb(img gocv.Mat, dst *gocv.Mat) {
	if !c.fastThumb(img, dst) {
		c.cvThumb(img, dst)
	}
}

// cvThumb is Thumb in OpenCV's calls, for images fastThumb does not take
// (rows not packed, as in a region of a frame narrower than it: tile
// reuse's), or a dst that is a region or img itself.
func (c *Change) cvThumb(img gocv.Mat, dst *gocv.Mat) {
	gocv.CvtColor(img, &c.gray, gocv.ColorBGRToGray)
	b := ReuseBlock
	src := c.gray
	right, bottom := (b-img.Cols()%b)%b, (b-img.Rows()%b)%b
	if right > 0 || bottom > 0 {
		gocv.CopyMakeBorder(c.gray, &c.padded, 0, bottom, 0, right, gocv.BorderReplicate, color.RGBA{})
		src = c.padded
	}
	src.ConvertToWithParams(&c.wide, gocv.MatTypeCV16U, wideScale, 0)
	gocv.Resize(c.wide, dst, image.Pt(src.Cols()/2, src.Rows()/2), 0, 0, gocv.InterpolationArea)
}

// wideScale: a thumb holds 16x the 2x2 means, which are then whole numbers
// (4x each cell's sum), as are the 4x4 means made from them (each block's
// sum): no rounding anywhere.
const wideScale = 16

// detailShare is the change in a block's detail (grids) strict judging
// counts, as a share of the threshold: 6 grey levels at 10. Measured on the
// faces set's sharpened faces and on the bench clips (bench/README.md): at
// 0.6 the guard leaves 6 of 243 faces unmasked where it left 50 without the
// rule, for 1.0-1.2 points more of a busy frame masked; at 0.5, 3 for
// 2.4-3.0 points; at 0.8, 16 for 0.2-0.3. A still scene with sensor noise
// shows no change at any of them.
const detailShare = 0.6

// ThumbBlocks is the coarse grid of a thumb: one cell per ReuseBlock pixels
// (a thumb's sides are even when made by Thumb).
func ThumbBlocks(thumb gocv.Mat) image.Point {
	h := ReuseBlock / 2
	return image.Pt(max(1, (thumb.Cols()+h-1)/h), max(1, (thumb.Rows()+h-1)/h))
}

// BlockCells returns the whole blocks under r (frame pixels) on a thumb's
// fine grid (two cells a block), within a thumb of cells.
func BlockCells(r image.Rectangle, cells image.Point) image.Rectangle {
	b, h := ReuseBlock, ReuseBlock/2
	return image.Rect(floorDiv(r.Min.X, b)*h, floorDiv(r.Min.Y, b)*h, ceilDiv(r.Max.X, b)*h, ceilDiv(r.Max.Y, b)*h).
		Intersect(image.Rectangle{Max: cells})
}

func floorDiv(a, b int) int { return int(math.Floor(float64(a) / float64(b))) }
func ceilDiv(a, b int) int  { return int(math.Ceil(float64(a) / float64(b))) }

// Mask judges the thumbs cur and ref (the same size) strictly or leniently
// (see Change) and returns the changed blocks, on cur's coarse grid (8-bit,
// 255 where changed; the judge's buffer, valid until its next call), and how
// many there are. Thumbs of different sizes are all changed.
func (c *Change) Mask(cur, ref gocv.Mat, strict bool) (gocv.Mat, int) {
	if !Fits(cur, ref) {
		return c.all(cur)
	}
	c.grids(ref, &c.coarseRef, &c.detRef, strict)
	return c.compare(cur, ref, c.coarseRef, c.detRef, strict)
}

// SetRef keeps a copy of the thumb ref, with its coarse grid and detail, for
// MaskRef: a frame path comparing every frame with one detection's frame
// pays for that frame's grids once.
func (c *Change) SetRef(ref gocv.Mat) {
	ref.CopyTo(&c.ref)
	if ref.Empty() {
		return
	}
	c.grids(c.ref, &c.refCoarse, &c.refDetail, true)
}

// RefFits reports whether cur can be compared with SetRef's thumb (there is
// one, of cur's size and type).
func (c *Change) RefFits(cur gocv.Mat) bool { return Fits(cur, c.ref) }

// MaskRef is Mask(cur, SetRef's thumb, true).
func (c *Change) MaskRef(cur gocv.Mat) (gocv.Mat, int) {
	if !Fits(cur, c.ref) {
		return c.all(cur)
	}
	return c.compare(cur, c.ref, c.refCoarse, c.refDetail, true)
}

// Fits reports whether the thumbs cur and ref can be compared: cur is not
// empty, and both are of one size and type.
func Fits(cur, ref gocv.Mat) bool {
	return !cur.Empty() && cur.Cols() == ref.Cols() && cur.Rows() == ref.Rows() && cur.Type() == ref.Type()
}

// all is every block of cur's coarse grid changed.
func (c *Change) all(cur gocv.Mat) (gocv.Mat, int) {
	sz := ThumbBlocks(cur)
	if c.mask.Cols() != sz.X || c.mask.Rows() != sz.Y || c.mask.Type() != gocv.MatTypeCV8U {
		c.mask.Close()
		c.mask = gocv.NewMatWithSize(sz.Y, sz.X, gocv.MatTypeCV8U)
	}
	c.mask.SetTo(gocv.NewScalar(255, 0, 0, 0))
	return c.mask, sz.X * sz.Y
}

// compare is Mask for thumbs that fit, given ref's coarse grid and (strict)
// detail.
func (c *Change) compare(cur, ref, refCoarse, refDetail gocv.Mat, strict bool) (gocv.Mat, int) {
	if strict {
		if mask, n, ok := c.fastCompare(cur, ref, refCoarse, refDetail); ok {
			return mask, n
		}
	}
	return c.cvCompare(cur, ref, refCoarse, refDetail, strict)
}

// cvCompare is compare in OpenCV's calls, for thumbs fastCompare does not
// take, and lenient judging.
func (c *Change) cvCompare(cur, ref, refCoarse, refDetail gocv.Mat, strict bool) (gocv.Mat, int) {
	sz := ThumbBlocks(cur)
	minSums := max(1, wideScale*(math.Floor(c.threshold)+1)+1) // lenient
	if strict {
		minSums = max(1, wideScale*math.Floor(c.threshold))
	}
	c.grids(cur, &c.coarseCur, &c.detCur, strict)
	gocv.AbsDiff(c.coarseCur, refCoarse, &c.coarseCur)
	gocv.Threshold(c.coarseCur, &c.coarseCur, float32(minSums-1), 255, gocv.ThresholdBinary) // sums are whole: > minSums-1 is >= minSums
	c.coarseCur.ConvertTo(&c.mask, gocv.MatTypeCV8U)
	if !strict {
		return c.mask, gocv.CountNonZero(c.mask)
	}
	gocv.AbsDiff(c.detCur, refDetail, &c.detCur)
	gocv.Threshold(c.detCur, &c.detCur, float32(wideScale*detailShare*c.threshold), 255, gocv.ThresholdBinary)
	c.detCur.ConvertTo(&c.diff, gocv.MatTypeCV8U)
	gocv.BitwiseOr(c.mask, c.diff, &c.mask)
	gocv.AbsDiff(cur, ref, &c.fineDiff)
	gocv.Threshold(c.fineDiff, &c.fineDiff, float32(wideScale*2*c.threshold), 255, gocv.ThresholdBinary)
	c.fineDiff.ConvertTo(&c.fine, gocv.MatTypeCV8U)
	if gocv.CountNonZero(c.fine) > 0 {
		// Fold the fine cells onto their blocks: any changed cell (255) leaves
		// its block's area average above 0.
		gocv.Resize(c.fine, &c.diff, sz, 0, 0, gocv.InterpolationArea)
		gocv.Threshold(c.diff, &c.diff, 0, 255, gocv.ThresholdBinary)
		gocv.BitwiseOr(c.mask, c.diff, &c.mask)
	}
	return c.mask, gocv.CountNonZero(c.mask)
}

// Same reports whether strict judging finds no block changed between the
// thumbs cur and ref.
func (c *Change) Same(cur, ref gocv.Mat) bool {
	_, n := c.Mask(cur, ref, true)
	return n == 0
}

// grids writes a thumb's coarse grid (wideScale times each block's mean,
// ThumbBlocks) into coarse and, with detail, each block's detail into
// details: the mean absolute difference of its four 2x2 cells from the
// block's mean (wideScale times grey levels). Sharpening or blurring moves
// the detail where it leaves the means alone.
func (c *Change) grids(thumb gocv.Mat, coarse, details *gocv.Mat, detail bool) {
	sz := ThumbBlocks(thumb)
	gocv.Resize(thumb, coarse, sz, 0, 0, gocv.InterpolationArea)
	if !detail {
		return
	}
	gocv.Resize(*coarse, &c.up, image.Pt(sz.X*2, sz.Y*2), 0, 0, gocv.InterpolationNearestNeighbor)
	u := c.up.Region(image.Rect(0, 0, thumb.Cols(), thumb.Rows()))
	gocv.AbsDiff(thumb, u, &c.fineDiff)
	u.Close()
	gocv.Resize(c.fineDiff, details, sz, 0, 0, gocv.InterpolationArea)
}
