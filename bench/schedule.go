package bench

import (
	"context"
	"errors"
	"image"
	"io"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/detect"
	"github.com/veil-gateway/veil/pipeline"
	"github.com/veil-gateway/veil/track"
)

// Schedule is the measured recall cost of running the detectors on every
// Nth frame only, with the temporal hold predicting regions in between, or
// of answering unchanged tiles from memory (Reuse).
type Schedule struct {
	Clip  string        `json:"clip"`
	Every int           `json:"every"`
	Reuse *detect.Reuse `json:"reuse,omitempty"`
	// Tiles the detectors ran and answered from memory (Reuse rows).
	Tiles detect.TileStats `json:"tiles"`
	// Guard rows: detection results arrive GuardLag frames after the frame
	// they ran on, and a new detection starts then (the live camera's guard
	// mode); frames in between are redacted with the held regions plus the
	// blocks changed since. MaskedShare is the mean share of the frame the
	// guard masked: the precision it costs.
	GuardLag    int     `json:"guard_lag_frames,omitempty"`
	MaskedShare float64 `json:"guard_masked_share,omitempty"`
	// Stride rows (pipeline.Stride): every Nth frame detected, and the
	// frames in between redacted from it as the guard does, with no lag.
	// MaskedShare is then over every frame (detected ones count 0).
	Stride bool `json:"guard_between,omitempty"`
	// Regions found by detection on every frame (the reference), and how
	// many of them the scheduled run still destroyed (>= 70 % covered).
	Regions  int     `json:"regions"`
	Covered  int     `json:"covered"`
	Recall   float64 `json:"recall_vs_every_frame"`
	Frames   int     `json:"frames"`
	Detected int     `json:"frames_detected"`
}

// MeasureSchedule detects on the first frames of clip once, with every
// tile run (the reference), then replays the detections as if the detector
// ran every 1..maxEvery frames, holding regions for hold frames (at least
// N-1) in between. Then, for each of reuses, it detects on every frame again
// with unchanged tiles answered from memory, and holds as the live
// pipeline does.
func MeasureSchedule(ctx context.Context, clip Clip, cfg pipeline.Config, o Options, frames, maxEvery int, reuses []detect.Reuse) ([]Schedule, error) {
	ref := cfg
	ref.Reuse = detect.Reuse{}
	var thumbs []gocv.Mat
	defer func() {
		for _, m := range thumbs {
			m.Close()
		}
	}()
	all, bounds, _, err := detectClip(ctx, clip, ref, o, frames, &thumbs)
	if err != nil {
		return nil, err
	}
	eng, err := pipeline.NewEngine(ref, o.Store)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	var out []Schedule
	for n := 1; n <= maxEvery; n++ {
		s := Schedule{Clip: clip.Name, Every: n, Frames: len(all)}
		hold := track.NewHold(max(o.Hold, n))
		for i, ref := range all {
			in := []detect.Detection(nil)
			if i%n == 0 {
				in = ref
				s.Detected++
			}
			s.score(eng.Boxes(ref, bounds), eng.Boxes(hold.Update(in, bounds), bounds))
		}
		out = append(out, s.done())
	}
	for _, r := range reuses {
		c := cfg
		c.Reuse = r
		got, _, tiles, err := detectClip(ctx, clip, c, o, frames, nil)
		if err != nil {
			return nil, err
		}
		s := Schedule{Clip: clip.Name, Every: 1, Reuse: &r, Tiles: tiles, Frames: len(got), Detected: len(got)}
		hold := track.NewHold(o.Hold)
		for i := range min(len(got), len(all)) {
			s.score(eng.Boxes(all[i], bounds), eng.Boxes(hold.Update(got[i], bounds), bounds))
		}
		out = append(out, s.done())
	}
	g := pipeline.NewGuard(o.GuardThreshold, pipeline.GuardDilate)
	defer g.Close()
	lags := o.GuardLags
	if len(lags) == 0 {
		lags = []int{3, 6, 12}
	}
	for _, lag := range lags {
		s := Schedule{Clip: clip.Name, Every: lag, GuardLag: lag, Frames: len(all)}
		hold := track.NewHold(o.Hold)
		sticky := pipeline.NewSticky(pipeline.StickyMaxAge)
		var held []detect.Detection
		prev := -1
		masked, scored := 0.0, 0
		for f := range all {
			// The result of the detection started at frame d arrives at
			// d+lag, when the next one starts.
			d := (f/lag - 1) * lag
			if f%lag == 0 {
				s.Detected++
				if d >= 0 {
					var pt *gocv.Mat
					if prev >= 0 {
						pt = &thumbs[prev]
					}
					held = append(hold.Update(all[d], bounds), sticky.Update(g, all[d], thumbs[d], pt)...)
					prev = d
				}
			}
			if d < 0 {
				continue // no result yet: masked whole, so not scored
			}
			cover := g.Changed(thumbs[f], thumbs[d], bounds.Dx(), bounds.Dy())
			masked += unionShare(cover, bounds)
			scored++
			s.score(eng.Boxes(all[f], bounds), append(cover, eng.Boxes(held, bounds)...))
		}
		s.MaskedShare = masked / float64(max(1, scored))
		out = append(out, s.done())
	}
	for every := 2; every <= maxEvery; every++ {
		s := Schedule{Clip: clip.Name, Every: every, Stride: true, Frames: len(all)}
		hold := track.NewHold(o.Hold)
		sticky := pipeline.NewSticky(pipeline.StickyMaxAge)
		var held []detect.Detection
		masked := 0.0
		for f := range all {
			d := f / every * every // the frame detected last
			if f == d {
				s.Detected++
				var pt *gocv.Mat
				if f > 0 {
					pt = &thumbs[f-every]
				}
				held = sticky.Update(g, hold.Update(all[f], bounds), thumbs[f], pt)
				s.score(eng.Boxes(all[f], bounds), eng.Boxes(held, bounds))
				continue
			}
			cover := g.Changed(thumbs[f], thumbs[d], bounds.Dx(), bounds.Dy())
			masked += unionShare(cover, bounds)
			s.score(eng.Boxes(all[f], bounds), append(cover, eng.Boxes(held, bounds)...))
		}
		s.MaskedShare = masked / float64(max(1, len(all)))
		out = append(out, s.done())
	}
	return out, nil
}

// score counts the reference regions of one frame and those the run still
// destroyed (at least 70 % of the region covered).
func (s *Schedule) score(ref, cover []image.Rectangle) {
	for _, r := range ref {
		s.Regions++
		if coveredShare(r, cover) >= 0.7 {
			s.Covered++
		}
	}
}

// done fills in the recall.
func (s Schedule) done() Schedule {
	if s.Regions > 0 {
		s.Recall = float64(s.Covered) / float64(s.Regions)
	}
	return s
}

// unionShare is the share of bounds the union of rs covers, on a 4 px grid.
func unionShare(rs []image.Rectangle, bounds image.Rectangle) float64 {
	const b = detect.ReuseBlock
	w, h := (bounds.Dx()+b-1)/b, (bounds.Dy()+b-1)/b
	if w*h == 0 {
		return 0
	}
	grid := make([]bool, w*h)
	n := 0
	for _, r := range rs {
		r = r.Intersect(bounds)
		for y := r.Min.Y / b; y < (r.Max.Y+b-1)/b; y++ {
			for x := r.Min.X / b; x < (r.Max.X+b-1)/b; x++ {
				if !grid[y*w+x] {
					grid[y*w+x] = true
					n++
				}
			}
		}
	}
	return float64(n) / float64(w*h)
}

// detectClip runs an engine made from cfg on the first frames of clip, and
// keeps each frame's guard thumb in thumbs when it is not nil.
func detectClip(ctx context.Context, clip Clip, cfg pipeline.Config, o Options, frames int, thumbs *[]gocv.Mat) ([][]detect.Detection, image.Rectangle, detect.TileStats, error) {
	var none detect.TileStats
	v, err := pipeline.OpenVideo(clip.Path)
	if err != nil {
		return nil, image.Rectangle{}, none, err
	}
	defer v.Close()
	eng, err := pipeline.NewEngine(cfg, o.Store)
	if err != nil {
		return nil, image.Rectangle{}, none, err
	}
	defer eng.Close()
	m := gocv.NewMat()
	defer m.Close()
	g := pipeline.NewGuard(o.GuardThreshold, pipeline.GuardDilate)
	defer g.Close()
	var all [][]detect.Detection
	bounds := image.Rect(0, 0, v.Info().Width, v.Info().Height)
	for range frames {
		if err := ctx.Err(); err != nil {
			return nil, bounds, none, err
		}
		if err := v.Read(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, bounds, none, err
		}
		var t pipeline.Timings
		d, err := eng.Detect(m, &t)
		if err != nil {
			return nil, bounds, none, err
		}
		all = append(all, d)
		if thumbs != nil {
			th := gocv.NewMat()
			g.Thumb(m, &th)
			*thumbs = append(*thumbs, th)
		}
	}
	return all, bounds, eng.Tiles(), nil
}

// coveredShare is the share of r's pixels inside any of boxes.
func coveredShare(r image.Rectangle, boxes []image.Rectangle) float64 {
	if r.Empty() {
		return 1
	}
	in := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			p := image.Pt(x, y)
			for _, b := range boxes {
				if p.In(b) {
					in++
					break
				}
			}
		}
	}
	return float64(in) / float64(r.Dx()*r.Dy())
}
