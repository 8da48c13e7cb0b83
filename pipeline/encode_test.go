package pipeline_test

import (
	"image"
	"testing"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/pipeline"
	"github.com/veil-gateway/veil/redact"
)

func TestVP8SinkEncodesRedactedFrames(t *testing.T) {
	s, err := pipeline.NewVP8Sink(768, 576, 10, 1500, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	red := redact.New(redact.Pixelate)
	defer red.Close()
	v, err := pipeline.OpenVideo(shortClip(t, 12))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	frames := 0
	for i := 0; ; i++ {
		raw := gocv.NewMat()
		if err := v.Read(&raw); err != nil {
			raw.Close()
			break
		}
		frames++
		f, err := red.Apply(raw, []image.Rectangle{image.Rect(100, 100, 200, 200)})
		if err != nil {
			t.Fatal(err)
		}
		if i == 6 {
			s.RequestKeyframe()
		}
		smp, err := s.Encode(&f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(smp.Data) == 0 || smp.Key != (i == 0 || i == 6) {
			t.Errorf("frame %d: %d bytes, key %v", i, len(smp.Data), smp.Key)
		}
	}
	if frames != 12 {
		t.Fatalf("encoded %d frames, want 12", frames)
	}
	// A frame of the wrong size is an error, not a crash.
	red2 := redact.New(redact.Fill)
	defer red2.Close()
	small, _ := red2.Apply(gocv.NewMatWithSize(10, 10, gocv.MatTypeCV8UC3), nil)
	defer small.Close()
	if _, err := s.Encode(&small); err == nil {
		t.Error("want an error for a frame of the wrong size")
	}
}

func BenchmarkVP8Sink720p(b *testing.B) {
	s, err := pipeline.NewVP8Sink(1280, 720, 30, 2500, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	red := redact.New(redact.Pixelate)
	defer red.Close()
	m := gocv.NewMatWithSize(720, 1280, gocv.MatTypeCV8UC3)
	gocv.RandU(&m, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(255, 255, 255, 0))
	f, _ := red.Apply(m, []image.Rectangle{image.Rect(100, 100, 300, 300)})
	defer f.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Encode(&f); err != nil {
			b.Fatal(err)
		}
	}
}
