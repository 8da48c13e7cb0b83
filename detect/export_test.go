package detect

import "image"

// Found reports whether one of dets overlaps want by IoU 0.3 or more: the
// tests' "this face (plate) was found", shared by this package's internal
// and external tests.
func Found(dets []Detection, want image.Rectangle) bool {
	for _, d := range dets {
		if IoU(d.Box, want) >= 0.3 {
			return true
		}
	}
	return false
}

// EachVtestFrame is eachVtestFrame, for the external tests.
var EachVtestFrame = eachVtestFrame
