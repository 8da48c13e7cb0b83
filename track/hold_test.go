package track

import (
	"image"
	"testing"

	"github.com/veil-gateway/veil/detect"
)

var frame = image.Rect(0, 0, 640, 480)

func face(x, y int) detect.Detection {
	return detect.Detection{Box: image.Rect(x, y, x+40, y+40), Class: detect.Face, Score: 0.9}
}

func covers(regions []detect.Detection, want image.Rectangle) bool {
	for _, r := range regions {
		if want.In(r.Box) {
			return true
		}
	}
	return false
}

func TestHold(t *testing.T) {
	tests := []struct {
		name string
		// per frame: the detections (nil = the detector blinked)
		seen [][]detect.Detection
		// truth per frame: where the face really is
		truth []image.Rectangle
		// want[i]: the truth must be covered in frame i
		want []bool
	}{
		{
			name:  "one-frame blink is covered",
			seen:  [][]detect.Detection{{face(100, 100)}, nil, {face(100, 100)}},
			truth: []image.Rectangle{image.Rect(100, 100, 140, 140), image.Rect(100, 100, 140, 140), image.Rect(100, 100, 140, 140)},
			want:  []bool{true, true, true},
		},
		{
			name: "moving face predicted through three misses",
			seen: [][]detect.Detection{{face(100, 100)}, {face(110, 100)}, {face(120, 100)}, nil, nil, nil},
			truth: []image.Rectangle{
				image.Rect(100, 100, 140, 140), image.Rect(110, 100, 150, 140), image.Rect(120, 100, 160, 140),
				image.Rect(130, 100, 170, 140), image.Rect(140, 100, 180, 140), image.Rect(150, 100, 190, 140),
			},
			want: []bool{true, true, true, true, true, true},
		},
		{
			name:  "released after the hold",
			seen:  [][]detect.Detection{{face(100, 100)}, nil, nil, nil, nil},
			truth: []image.Rectangle{image.Rect(100, 100, 140, 140), {}, {}, {}, image.Rect(100, 100, 140, 140)},
			want:  []bool{true, true, true, true, false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHold(3)
			for i, dets := range tt.seen {
				got := h.Update(dets, frame)
				truth := tt.truth[i]
				if truth.Empty() {
					continue
				}
				if c := covers(got, truth); c != tt.want[i] {
					t.Errorf("frame %d: truth %v covered = %v, want %v (regions %+v)", i, truth, c, tt.want[i], got)
				}
			}
		})
	}
}

func TestHoldTwoFacesKeepTheirTracks(t *testing.T) {
	h := NewHold(2)
	h.Update([]detect.Detection{face(100, 100), face(300, 100)}, frame)
	got := h.Update([]detect.Detection{face(300, 100)}, frame) // the first blinks
	if !covers(got, image.Rect(100, 100, 140, 140)) || !covers(got, image.Rect(300, 100, 340, 140)) {
		t.Fatalf("both faces must stay covered: %+v", got)
	}
	if h.Held() != 1 {
		t.Errorf("Held = %d, want 1", h.Held())
	}
}

func BenchmarkHoldUpdate(b *testing.B) {
	h := NewHold(5)
	dets := []detect.Detection{face(10, 10), face(100, 100), face(200, 50), face(400, 300), face(500, 400)}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		d := dets
		if i%3 == 0 {
			d = dets[:2]
		}
		h.Update(d, frame)
	}
}
