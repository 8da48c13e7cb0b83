// Package media holds the one form in which video leaves the pipeline: an
// encoded sample in Go-owned bytes. It imports no image library, so the
// network side of Veil cannot touch raw pixels.
package media

import "time"

// Sample is one encoded, redacted frame.
type Sample struct {
	Data     []byte
	Key      bool          // a keyframe: a new viewer can start here
	Duration time.Duration // how long the frame is shown
	Capture  time.Time     // when the camera frame was read; latency is measured from here
	Seq      uint64        // the camera's output frame number
}
