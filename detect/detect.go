// Package detect finds the regions Veil must destroy (faces, number plates) and
// the objects it counts (people, vehicles). Every detector here runs a fixed-size
// network over one or more tiles of the frame (see Passes), on ONNX Runtime or
// OpenCV's DNN module (DNN), and returns boxes in the frame's own pixel
// coordinates.
//
// Detectors borrow the frame they are given: they never keep it, never modify
// it, and close every temporary Mat they create. A detector is not safe for
// concurrent use; give each goroutine its own.
package detect

import (
	"fmt"
	"image"
	"os"
)

// Class is what a detection is.
type Class uint8

// Classes Veil knows.
const (
	Face Class = iota + 1
	Plate
	Person
	Bicycle
	Car
	Motorbike
	Bus
	Truck
)

var classNames = map[Class]string{
	Face: "face", Plate: "plate", Person: "person", Bicycle: "bicycle",
	Car: "car", Motorbike: "motorbike", Bus: "bus", Truck: "truck",
}

func (c Class) String() string {
	if s, ok := classNames[c]; ok {
		return s
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// IsVehicle reports whether c is a road vehicle (one that can carry a plate).
func (c Class) IsVehicle() bool {
	switch c {
	case Car, Motorbike, Bus, Truck:
		return true
	}
	return false
}

// Detection is one box found in a frame.
type Detection struct {
	Box   image.Rectangle
	Class Class
	Score float32
}

// checkModelFile gives a clear error before OpenCV sees the path: OpenCV aborts
// the whole process on a missing or unreadable model.
func checkModelFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("model %s: %w", path, err)
	}
	if !st.Mode().IsRegular() || st.Size() == 0 {
		return fmt.Errorf("model %s: not a regular non-empty file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("model %s: %w", path, err)
	}
	return f.Close()
}

// orWholeFrame is the pass list used when none is configured.
func orWholeFrame(p []Pass) []Pass {
	if len(p) == 0 {
		return []Pass{{}}
	}
	return p
}
