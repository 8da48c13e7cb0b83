package pipeline

import (
	"image"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/detect"
)

// Stride lets a video be detected on every Nth frame only, the frames in
// between redacted as a guard-mode camera redacts them: with the regions the
// last detection found, plus every block that changed since the frame it ran
// on (Guard). A face can only have appeared, or moved, where pixels changed,
// so recall is kept; what is paid is precision, moving areas masked until
// the next detection. Unlike the live guard, nothing lags: frame kN is
// detected before frames kN+1 .. kN+N-1 are redacted from it. Measured with
// veil bench (bench/README.md, schedule and stride modes).
type Stride struct {
	every  int
	guard  *Guard
	sticky *Sticky
	ref    gocv.Mat // thumb of the frame the last detection ran on
	cur    gocv.Mat // thumb of the frame being redacted
	dets   []detect.Detection
	since  int     // frames since the last detected one (1: the one after it)
	has    bool    // a detection has succeeded
	share  float64 // of the frame the last Between's changed areas cover
}

// NewStride detects every every-th frame; threshold is the guard's change
// threshold (grey levels of a 4x4 block's mean, twice it for a 2x2 cell's;
// 0: GuardThreshold).
func NewStride(every int, threshold float64) *Stride {
	if threshold <= 0 {
		threshold = GuardThreshold
	}
	return &Stride{every: max(every, 1), guard: NewGuard(threshold, GuardDilate), sticky: NewSticky(StickyMaxAge), ref: gocv.NewMat(), cur: gocv.NewMat()}
}

// Close frees the thumbs and the guard.
func (s *Stride) Close() {
	s.guard.Close()
	s.ref.Close()
	s.cur.Close()
}

// Due reports whether the next frame must be detected: every Nth one, and
// every one until a detection has succeeded (a failed detection masks its
// frame whole and does not count).
func (s *Stride) Due() bool { return !s.has || s.since >= s.every }

// Detected records the next frame, which was detected, and what was found
// in it (held regions included), and returns what to destroy in it: those,
// and what earlier detections found where nothing has changed since (Sticky:
// a detector that sees a still face in one frame out of three would
// otherwise let it show in the others).
func (s *Stride) Detected(img gocv.Mat, dets []detect.Detection) []detect.Detection {
	s.guard.Thumb(img, &s.cur)
	var prev *gocv.Mat
	if s.has {
		prev = &s.ref
	}
	s.dets = s.sticky.Update(s.guard, dets, s.cur, prev)
	s.ref, s.cur = s.cur, s.ref
	s.guard.SetRef(s.ref)
	s.has, s.since = true, 1
	return s.dets
}

// Between returns what to destroy in the next frame, which is not detected:
// the last detection's regions and the areas changed since its frame, in
// pixels. Only call it when Due is false. A frame that is not 8-bit BGR
// (OpenCV would abort on it) is changed everywhere.
func (s *Stride) Between(img gocv.Mat) ([]detect.Detection, []image.Rectangle) {
	s.since++
	if img.Empty() || img.Type() != gocv.MatTypeCV8UC3 {
		s.share = 1
		return s.dets, []image.Rectangle{image.Rect(0, 0, img.Cols(), img.Rows())}
	}
	s.guard.Thumb(img, &s.cur)
	changed := s.guard.ChangedRef(s.cur, img.Cols(), img.Rows())
	s.share = s.guard.Share()
	return s.dets, changed
}

// Share is the share of the frame the last Between's changed areas cover.
func (s *Stride) Share() float64 { return s.share }
