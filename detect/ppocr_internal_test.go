package detect

import (
	"image"
	"testing"
)

func TestComponentsUnclip(t *testing.T) {
	w, h := 64, 32
	prob := make([]float32, w*h)
	// One 20x6 text blob and one 1-pixel speck.
	for y := 10; y < 16; y++ {
		for x := 10; x < 30; x++ {
			prob[y*w+x] = 0.9
		}
	}
	prob[2*w+60] = 0.95
	p := &PPOCR{threshold: 0.3, boxThresh: 0.5, minSide: 2}
	got := p.components(prob, w, h)
	if len(got) != 1 {
		t.Fatalf("got %d components, want 1: %+v", len(got), got)
	}
	// d = 20*6*1.5/(2*26) = 3.46 -> 4 px each side.
	want := image.Rect(6, 6, 34, 20)
	if got[0].Box != want {
		t.Errorf("box %v, want %v", got[0].Box, want)
	}
}

func BenchmarkComponents(b *testing.B) {
	w, h := 640, 640
	prob := make([]float32, w*h)
	for i := 0; i < 40; i++ {
		for y := (i % 8) * 70; y < (i%8)*70+12; y++ {
			for x := (i / 8) * 120; x < (i/8)*120+80; x++ {
				prob[y*w+x] = 0.8
			}
		}
	}
	p := &PPOCR{threshold: 0.3, boxThresh: 0.5, minSide: 2}
	b.ReportAllocs()
	for b.Loop() {
		p.components(prob, w, h)
	}
}

func TestMidInput(t *testing.T) {
	for _, c := range []struct{ small, large, want image.Point }{
		{image.Pt(320, 320), image.Pt(640, 640), image.Pt(448, 448)},
		{image.Pt(256, 256), image.Pt(640, 640), image.Pt(416, 416)},
		{image.Pt(320, 320), image.Pt(352, 352), image.Point{}}, // nothing strictly between
		{image.Pt(320, 320), image.Pt(640, 320), image.Point{}}, // no room in height
		{image.Pt(608, 608), image.Pt(640, 640), image.Point{}},
	} {
		if got := midInput(c.small, c.large); got != c.want {
			t.Errorf("midInput(%v, %v) = %v, want %v", c.small, c.large, got, c.want)
		}
	}
}

func TestWholeInput(t *testing.T) {
	in := image.Pt(320, 320)
	for _, c := range []struct {
		w, h int
		want image.Point
	}{
		{768, 576, image.Pt(320, 256)},  // 4:3: 320x240 of picture
		{1280, 720, image.Pt(320, 192)}, // 16:9: 320x180
		{1920, 1080, image.Pt(320, 192)},
		{640, 640, image.Pt(320, 320)}, // square: the input as it is
		{480, 640, image.Pt(256, 320)}, // portrait
		{4000, 100, image.Pt(320, 32)}, // a strip: at least one stride
		{100, 100, image.Pt(320, 320)}, // small frames are magnified to fit, as before
	} {
		if got := wholeInput(c.w, c.h, in); got != c.want {
			t.Errorf("wholeInput(%d, %d) = %v, want %v", c.w, c.h, got, c.want)
		}
	}
}
