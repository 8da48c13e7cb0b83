package pipeline

import (
	"fmt"
	"time"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/redact"
	"github.com/veil-gateway/veil/transport/media"
	"github.com/veil-gateway/veil/transport/vp8"
)

// VP8Sink encodes redacted frames to VP8. It accepts only redact.Frame, so
// an encoder never sees raw pixels. Not safe for concurrent use.
type VP8Sink struct {
	enc      *vp8.Encoder
	w, h     int
	yuv      gocv.Mat
	frameDur time.Duration
	forceKey bool
}

// NewVP8Sink opens an encoder for w x h frames (even sizes) at fps.
func NewVP8Sink(w, h, fps, kbps, threads int) (*VP8Sink, error) {
	enc, err := vp8.NewEncoder(vp8.Config{Width: w, Height: h, FPS: fps, KbitRate: kbps, Threads: threads, Speed: 10, KeyframeMax: fps * 4})
	if err != nil {
		return nil, err
	}
	return &VP8Sink{enc: enc, w: w, h: h, yuv: gocv.NewMat(), frameDur: time.Second / time.Duration(fps)}, nil
}

// RequestKeyframe makes the next frame a keyframe (a viewer joined, a PLI).
func (s *VP8Sink) RequestKeyframe() { s.forceKey = true }

// Encode converts f to I420 and encodes it as the next frame at the
// configured rate. The sample's Data is a copy.
func (s *VP8Sink) Encode(f *redact.Frame) (media.Sample, error) {
	return s.EncodeAt(f, -1)
}

// EncodeAt encodes f shown at time at (from the stream's start; negative:
// the next frame at the configured rate). Rate control follows the real
// timing, so slow output does not starve each frame of bits.
func (s *VP8Sink) EncodeAt(f *redact.Frame, at time.Duration) (media.Sample, error) {
	m := f.Mat()
	if m.Empty() || m.Cols() != s.w || m.Rows() != s.h || m.Type() != gocv.MatTypeCV8UC3 {
		return media.Sample{}, fmt.Errorf("vp8 sink: frame is %dx%d type %v, want %dx%d BGR", m.Cols(), m.Rows(), m.Type(), s.w, s.h)
	}
	gocv.CvtColor(m, &s.yuv, gocv.ColorBGRToYUVI420)
	i420, err := s.yuv.DataPtrUint8() // a view of the Mat, no copy
	if err != nil {
		return media.Sample{}, fmt.Errorf("vp8 sink: %w", err)
	}
	var data []byte
	var key bool
	if at < 0 {
		data, key, err = s.enc.Encode(i420, s.forceKey)
	} else {
		data, key, err = s.enc.EncodeAt(i420, at, s.forceKey)
	}
	if err != nil {
		return media.Sample{}, err
	}
	s.forceKey = false
	return media.Sample{Data: append([]byte(nil), data...), Key: key, Duration: s.frameDur}, nil
}

// Close frees the encoder.
func (s *VP8Sink) Close() error {
	s.yuv.Close()
	return s.enc.Close()
}
