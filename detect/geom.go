package detect

import (
	"image"
	"math"
	"sort"
)

// IoU is the intersection over union of two rectangles.
func IoU(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	if in.Empty() {
		return 0
	}
	ia := area(in)
	return ia / (area(a) + area(b) - ia)
}

// overlapSmaller is the intersection over the smaller rectangle's area.
func overlapSmaller(a, b image.Rectangle) float64 {
	in := a.Intersect(b)
	if in.Empty() {
		return 0
	}
	return area(in) / math.Min(area(a), area(b))
}

func area(r image.Rectangle) float64 { return float64(r.Dx()) * float64(r.Dy()) }

// NMS keeps the highest-scoring detection of each group of same-class boxes
// that overlap by IoU > iou.
func NMS(dets []Detection, iou float64) []Detection {
	sort.SliceStable(dets, func(i, j int) bool { return dets[i].Score > dets[j].Score })
	out := dets[:0:0]
	for _, d := range dets {
		merged := false
		for i := range out {
			k := &out[i]
			if k.Class != d.Class {
				continue
			}
			if IoU(k.Box, d.Box) > iou {
				merged = true
				break
			}
		}
		if !merged {
			out = append(out, d)
		}
	}
	return out
}

// Pad grows r by frac of its width and height on each side (frac 0.15 adds
// 15 % of the width left and right), then clips it to bounds.
func Pad(r image.Rectangle, fracX, fracY float64, bounds image.Rectangle) image.Rectangle {
	dx := int(math.Ceil(float64(r.Dx()) * fracX))
	dy := int(math.Ceil(float64(r.Dy()) * fracY))
	return image.Rect(r.Min.X-dx, r.Min.Y-dy, r.Max.X+dx, r.Max.Y+dy).Intersect(bounds)
}

// MergeContained replaces every pair of same-class boxes where one lies mostly
// (> contain of its area) inside the other by their union: a second pass that
// finds part of a face inside a face already found must not shrink what is
// redacted.
func MergeContained(dets []Detection, contain float64) []Detection {
	for changed := true; changed; {
		changed = false
		for i := 0; i < len(dets) && !changed; i++ {
			for j := i + 1; j < len(dets); j++ {
				if dets[i].Class != dets[j].Class || overlapSmaller(dets[i].Box, dets[j].Box) <= contain {
					continue
				}
				dets[i].Box = dets[i].Box.Union(dets[j].Box)
				dets[i].Score = max(dets[i].Score, dets[j].Score)
				dets = append(dets[:j], dets[j+1:]...)
				changed = true
				break
			}
		}
	}
	return dets
}

// DropContained removes every box that lies almost wholly (> contain of its
// area) inside a larger box of the same class. Unlike MergeContained it never
// grows a box: the larger box already covers what the smaller one found.
func DropContained(dets []Detection, contain float64) []Detection {
	out := dets[:0:0]
	for i, d := range dets {
		inside := false
		for j, o := range dets {
			if i == j || o.Class != d.Class || area(o.Box) < area(d.Box) || (area(o.Box) == area(d.Box) && j > i) {
				continue
			}
			in := d.Box.Intersect(o.Box)
			if !in.Empty() && area(in) > contain*area(d.Box) {
				inside = true
				break
			}
		}
		if !inside {
			out = append(out, d)
		}
	}
	return out
}

// MergeTextLines joins boxes of one class that sit on the same line with a gap
// of at most gapFrac times their height, so nothing between two text boxes of a
// plate (a space, a hyphen, a narrow character) survives redaction.
func MergeTextLines(dets []Detection, gapFrac float64) []Detection {
	for changed := true; changed; {
		changed = false
		for i := 0; i < len(dets) && !changed; i++ {
			for j := i + 1; j < len(dets); j++ {
				a, b := dets[i].Box, dets[j].Box
				if dets[i].Class != dets[j].Class || !sameLine(a, b, gapFrac) {
					continue
				}
				dets[i].Box = a.Union(b)
				if dets[j].Score > dets[i].Score {
					dets[i].Score = dets[j].Score
				}
				dets = append(dets[:j], dets[j+1:]...)
				changed = true
				break
			}
		}
	}
	return dets
}

func sameLine(a, b image.Rectangle, gapFrac float64) bool {
	ov := min(a.Max.Y, b.Max.Y) - max(a.Min.Y, b.Min.Y)
	hmin := min(a.Dy(), b.Dy())
	hmax := max(a.Dy(), b.Dy())
	if hmin <= 0 || float64(ov) < 0.5*float64(hmin) || float64(hmax) > 2*float64(hmin) {
		return false
	}
	gap := max(a.Min.X, b.Min.X) - min(a.Max.X, b.Max.X)
	return float64(gap) <= gapFrac*float64(hmax)
}

// SizeThreshold keeps a detection by a score threshold that rises with the
// box's width: Low below SmallWidth pixels, Mid below MidWidth, High above.
// Small faces score low and cost little area when wrong; large false
// positives cost a lot. So recall is bought where it is cheap. A zero width
// turns its tier off.
type SizeThreshold struct {
	High, Mid, Low       float32
	SmallWidth, MidWidth int
}

// For returns the threshold for a box w pixels wide.
func (s SizeThreshold) For(w int) float32 {
	switch {
	case w < s.SmallWidth:
		return s.Low
	case w < s.MidWidth:
		return s.Mid
	}
	return s.High
}

// min is the lowest score any box can pass with.
func (s SizeThreshold) min() float32 {
	m := s.High
	if s.SmallWidth > 0 {
		m = min(m, s.Low)
	}
	if s.MidWidth > 0 {
		m = min(m, s.Mid)
	}
	return m
}

// Keep filters dets in place.
func (s SizeThreshold) Keep(dets []Detection) []Detection {
	out := dets[:0]
	for _, d := range dets {
		if d.Score >= s.For(d.Box.Dx()) {
			out = append(out, d)
		}
	}
	return out
}
