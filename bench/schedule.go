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
// Nth frame only, with the temporal hold predicting regions in between.
type Schedule struct {
	Clip  string `json:"clip"`
	Every int    `json:"every"`
	// Regions found by detection on every frame (the reference), and how
	// many of them the scheduled run still destroyed (>= 70 % covered).
	Regions  int     `json:"regions"`
	Covered  int     `json:"covered"`
	Recall   float64 `json:"recall_vs_every_frame"`
	Frames   int     `json:"frames"`
	Detected int     `json:"frames_detected"`
}

// MeasureSchedule detects on the first frames of clip once, then replays
// the detections as if the detector ran every 1..maxEvery frames, holding
// regions for hold frames (at least N-1) in between.
func MeasureSchedule(ctx context.Context, clip Clip, cfg pipeline.Config, o Options, frames, maxEvery int) ([]Schedule, error) {
	v, err := pipeline.OpenVideo(clip.Path)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	eng, err := pipeline.NewEngine(cfg, o.Store)
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	m := gocv.NewMat()
	defer m.Close()
	var all [][]detect.Detection
	bounds := image.Rect(0, 0, v.Info().Width, v.Info().Height)
	for range frames {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := v.Read(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		var t pipeline.Timings
		d, err := eng.Detect(m, &t)
		if err != nil {
			return nil, err
		}
		all = append(all, d)
	}
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
			got := eng.Boxes(hold.Update(in, bounds), bounds)
			for _, r := range eng.Boxes(ref, bounds) {
				s.Regions++
				if coveredShare(r, got) >= 0.7 {
					s.Covered++
				}
			}
		}
		if s.Regions > 0 {
			s.Recall = float64(s.Covered) / float64(s.Regions)
		}
		out = append(out, s)
	}
	return out, nil
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
