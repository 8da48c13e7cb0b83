package detect

import (
	"image"
	"image/color"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/models"
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

// TestZoomedKeepsSmallInput: a vehicle region that fits a smaller input
// once magnified goes through it, though a larger region remembered for the
// same vehicle would need the 640x640 one; that region still answers from
// memory while nothing in it has changed. (A parked car in vtest.avi: a
// 96x64 region at 4x fits 448x448; its box at times came out wider, and the
// 128x64 region remembered then took most later searches through 640x640,
// at twice the CPU.)
func TestZoomedKeepsSmallInput(t *testing.T) {
	st := models.Open(testenv.Models(t))
	model, err := st.Path(models.PPOCRDet)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPPOCR(PPOCRConfig{Model: model, Input: image.Pt(640, 640), Threshold: 0.3, BoxThresh: 0.5,
		SmallInput: image.Pt(320, 320), Reuse: Reuse{Threshold: 10, MaxAge: 15}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	full := gocv.IMRead(filepath.Join(testenv.Data(t, "plates"), "images", "0b86cecf-67d1-4fc0-87c9-b36b0ee228bb.jpg"), gocv.IMReadColor)
	defer full.Close()
	if full.Empty() {
		t.Fatal("cannot read the plate image")
	}
	img := gocv.NewMat()
	defer img.Close()
	gocv.Resize(full, &img, image.Pt(full.Cols()/4, full.Rows()/4), 0, 0, gocv.InterpolationArea)
	plate := image.Rect(935/4, 362/4, (935+99)/4, (362+49)/4) // 24x13

	// runs counts the searches through each input: 640, 448, 320.
	runs := func() [3]int {
		r := [3]int{p.t.run}
		for i, s := range p.smaller {
			if s.p != nil {
				r[2-i] = s.p.t.run
			}
		}
		return r
	}
	search := func(m gocv.Mat, roi image.Rectangle) [3]int {
		t.Helper()
		before := runs()
		d, err := p.DetectZoomed(m, roi, 4, 2)
		if err != nil {
			t.Fatal(err)
		}
		if !Found(d, plate) {
			t.Errorf("%v: plate %v not found in %v", roi, plate, d)
		}
		after := runs()
		return [3]int{after[0] - before[0], after[1] - before[1], after[2] - before[2]}
	}
	// 112x48: 448x192 at 4x.
	car := image.Rect(plate.Min.X-48, plate.Min.Y-24, plate.Min.X+64, plate.Min.Y+24)
	if got := search(img, car); got != [3]int{0, 1, 0} {
		t.Errorf("car region: runs through 640, 448, 320 = %v, want one through 448", got)
	}
	// The same vehicle seen wider (128 px, 512 at 4x): searched through
	// 640, and remembered.
	wide := image.Rect(car.Min.X-16, car.Min.Y, car.Max.X, car.Max.Y)
	if got := search(img, wide); got != [3]int{1, 0, 0} {
		t.Errorf("wider region: runs %v, want one through 640", got)
	}
	// The car's region, shifted a little: inside the wider one, unchanged:
	// answered from memory.
	shifted := car.Add(image.Pt(-8, 0))
	if got := search(img, shifted); got != [3]int{} {
		t.Errorf("shifted region, nothing changed: runs %v, want none", got)
	}
	// Something moves in it: its own region (with the car's first one) is
	// searched, through 448, not the wider one through 640.
	moved := img.Clone()
	defer moved.Close()
	gocv.Rectangle(&moved, image.Rect(car.Min.X+2, car.Min.Y+2, car.Min.X+12, car.Min.Y+12), color.RGBA{255, 255, 255, 255}, -1)
	if got := search(moved, shifted); got != [3]int{0, 1, 0} {
		t.Errorf("shifted region, changed: runs %v, want one through 448", got)
	}
}
