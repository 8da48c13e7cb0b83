// Package track follows boxes from frame to frame. Hold keeps a face or plate
// redacted through short detector misses: the top complaint about redaction
// tools is a face that flickers into view for one frame when the detector
// blinks.
package track

import (
	"image"
	"math"

	"github.com/veil-gateway/veil/detect"
)

// Hold carries regions over detector misses. Each region found is tracked by
// IoU; when its detection is missing it is predicted forward at its last
// velocity and its box grows by Grow (a share of its size, per side) for every
// missed frame, up to Frames frames. It is not safe for concurrent use.
type Hold struct {
	Frames int     // frames a region is held after its last detection
	Grow   float64 // per-side growth per missed frame, as a share of the box size
	MinIoU float64 // overlap that ties a detection to a track

	tracks []holdTrack
}

type holdTrack struct {
	class  detect.Class
	box    image.Rectangle // last detected box
	vx, vy float64         // centre velocity, px per frame
	misses int
}

// NewHold returns a Hold with sensible defaults for 10-30 fps video.
func NewHold(frames int) *Hold {
	return &Hold{Frames: frames, Grow: 0.1, MinIoU: 0.1}
}

// Held is how many regions are being carried over misses right now.
func (h *Hold) Held() int {
	n := 0
	for _, t := range h.tracks {
		if t.misses > 0 {
			n++
		}
	}
	return n
}

// Update takes this frame's detections and returns the regions to redact:
// every detection, plus the predicted box of every track missed for at most
// Frames frames. bounds clips predicted boxes.
func (h *Hold) Update(dets []detect.Detection, bounds image.Rectangle) []detect.Detection {
	used := make([]bool, len(dets))
	for i := range h.tracks {
		t := &h.tracks[i]
		pred := t.predict(1, 0)
		best, bestIoU := -1, 0.0
		for j, d := range dets {
			if used[j] || d.Class != t.class {
				continue
			}
			iou := detect.IoU(pred, d.Box)
			if iou < h.MinIoU && !centreInside(d.Box, pred) {
				continue
			}
			if best < 0 || iou > bestIoU {
				best, bestIoU = j, iou
			}
		}
		if best < 0 {
			t.misses++
			continue
		}
		used[best] = true
		nb := dets[best].Box
		steps := float64(t.misses + 1)
		cx0, cy0 := centre(t.box)
		cx1, cy1 := centre(nb)
		// Smooth velocity so one jittery box does not fling the prediction.
		t.vx = 0.5*t.vx + 0.5*(cx1-cx0)/steps
		t.vy = 0.5*t.vy + 0.5*(cy1-cy0)/steps
		t.box, t.misses = nb, 0
	}
	out := append([]detect.Detection(nil), dets...)
	for j, d := range dets {
		if !used[j] {
			h.tracks = append(h.tracks, holdTrack{class: d.Class, box: d.Box})
		}
	}
	keep := h.tracks[:0]
	for _, t := range h.tracks {
		if t.misses > h.Frames {
			continue
		}
		keep = append(keep, t)
		if t.misses > 0 {
			b := t.predict(t.misses, h.Grow*float64(t.misses)).Intersect(bounds)
			if !b.Empty() {
				out = append(out, detect.Detection{Box: b, Class: t.class})
			}
		}
	}
	h.tracks = keep
	return out
}

// Reset forgets every track (a cut, a new file).
func (h *Hold) Reset() { h.tracks = h.tracks[:0] }

func (t holdTrack) predict(steps int, grow float64) image.Rectangle {
	dx := int(math.Round(t.vx * float64(steps)))
	dy := int(math.Round(t.vy * float64(steps)))
	b := t.box.Add(image.Pt(dx, dy))
	gx := int(math.Ceil(float64(b.Dx()) * grow))
	gy := int(math.Ceil(float64(b.Dy()) * grow))
	return image.Rect(b.Min.X-gx, b.Min.Y-gy, b.Max.X+gx, b.Max.Y+gy)
}

func centre(r image.Rectangle) (float64, float64) {
	return float64(r.Min.X+r.Max.X) / 2, float64(r.Min.Y+r.Max.Y) / 2
}

func centreInside(a, b image.Rectangle) bool {
	cx, cy := centre(a)
	return cx >= float64(b.Min.X) && cx < float64(b.Max.X) && cy >= float64(b.Min.Y) && cy < float64(b.Max.Y)
}
