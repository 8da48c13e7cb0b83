package detect_test

import (
	"image"
	"image/color"
	"path/filepath"
	"slices"
	"testing"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/detect"
	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/models"
)

// Tiles whose pixels did not change are answered from memory; a face that
// appears in a tile makes that tile run again, and the face is found.
func TestTileReuse(t *testing.T) {
	dir := testenv.Data(t, "faces-dlib")
	gt := readGT(t, filepath.Join(dir, "gt.csv"))
	const file = "2007_007763.jpg"
	faces := gt[file]
	y, err := detect.NewYuNet(detect.YuNetConfig{Model: modelPath(t, models.YuNet640), Input: image.Pt(640, 480),
		Threshold: detect.SizeThreshold{High: 0.6}, Passes: []detect.Pass{{Zoom: 0}, {Zoom: 2, MaxTiles: 12}},
		Reuse: detect.Reuse{Threshold: 10, MaxAge: 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	a := gocv.IMRead(filepath.Join(dir, "images", file), gocv.IMReadColor)
	defer a.Close()
	// b: the same picture with the rightmost face painted over (it lies in
	// the whole-frame tile and the right column of 2x tiles only).
	slices.SortFunc(faces, func(p, q image.Rectangle) int { return q.Min.X - p.Min.X })
	b := a.Clone()
	defer b.Close()
	gocv.Rectangle(&b, faces[0], color.RGBA{128, 128, 128, 255}, -1)

	run := func(img gocv.Mat) ([]detect.Detection, detect.TileStats) {
		t.Helper()
		return counted(t, y, func() ([]detect.Detection, error) { return y.Detect(img) })
	}
	d1, s1 := run(a)
	if s1.Reused != 0 || s1.Run < 2 {
		t.Fatalf("first frame: %+v, want every tile run", s1)
	}
	tiles := s1.Run
	for _, f := range faces {
		if !found(d1, f) {
			t.Fatalf("face %v not found in the first frame", f)
		}
	}
	d2, s2 := run(a)
	if s2.Run != 0 || s2.Reused != tiles || !slices.Equal(d1, d2) {
		t.Errorf("same frame again: %+v, %d boxes (first %d), want every tile reused and the same boxes", s2, len(d2), len(d1))
	}
	d3, s3 := run(b)
	if s3.Run == 0 || s3.Run == tiles || s3.Run+s3.Reused != tiles {
		t.Errorf("one face painted over: %+v, want the tiles over it run and the rest reused", s3)
	}
	if found(d3, faces[0]) {
		t.Errorf("painted-over face %v still reported", faces[0])
	}
	for _, f := range faces[1:] {
		if !found(d3, f) {
			t.Errorf("face %v lost when another was painted over", f)
		}
	}
	// The face comes back: its tiles differ from what they were last run on.
	d4, s4 := run(a)
	if s4.Run < s3.Run || !found(d4, faces[0]) {
		t.Errorf("face back: %+v, found %v; want at least the %d tiles over it run and the face found", s4, found(d4, faces[0]), s3.Run)
	}
	// MaxAge 2: a tile answered twice from memory is run again, changed
	// or not (the tiles not run for d4 had been answered twice).
	_, s5 := run(a)
	_, s6 := run(a)
	_, s7 := run(a)
	if s5.Reused != tiles || s6.Reused != tiles || s7.Run != tiles {
		t.Errorf("max age: %+v, %+v, %+v; want all reused twice, then all run", s5, s6, s7)
	}
	// Another frame size starts afresh.
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(a, &small, image.Pt(a.Cols()/2, a.Rows()/2), 0, 0, gocv.InterpolationArea)
	if _, s := run(small); s.Reused != 0 {
		t.Errorf("new frame size: %+v, want nothing reused", s)
	}
}

// Tile reuse judges change as the live guard does (Change): a patch that
// only gains detail (2x2 cells 7 levels either side of a mean that does not
// move), or a 2x2 cell that moves by 30 (its block's mean by 7.5), runs the
// tiles over it again. Rounded 4x4 means alone saw neither, and a guard
// trusting a detection that reused such a tile would not either.
func TestTileReuseSeesDetail(t *testing.T) {
	y, err := detect.NewYuNet(detect.YuNetConfig{Model: modelPath(t, models.YuNet640), Input: image.Pt(640, 480),
		Threshold: detect.SizeThreshold{High: 0.6}, Passes: []detect.Pass{{Zoom: 0}, {Zoom: 2, MaxTiles: 12}},
		Reuse: detect.Reuse{Threshold: 10, MaxAge: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	flat := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(100, 100, 100, 0), 480, 640, gocv.MatTypeCV8UC3)
	defer flat.Close()
	run := func(img gocv.Mat) detect.TileStats {
		t.Helper()
		_, s := counted(t, y, func() ([]detect.Detection, error) { return y.Detect(img) })
		return s
	}
	tiles := run(flat).Run
	for _, tt := range []struct {
		name  string
		paint func(m gocv.Mat)
	}{
		{"detail", func(m gocv.Mat) { // 2x2 cells of 93 and 107 in a checker, 16x16 px
			for cy := range 8 {
				for cx := range 8 {
					v := 93.0
					if (cx+cy)%2 == 1 {
						v = 107
					}
					r := m.Region(image.Rect(300+2*cx, 200+2*cy, 302+2*cx, 202+2*cy))
					r.SetTo(gocv.NewScalar(v, v, v, 0))
					r.Close()
				}
			}
		}},
		{"a cell", func(m gocv.Mat) {
			r := m.Region(image.Rect(300, 200, 302, 202))
			r.SetTo(gocv.NewScalar(70, 70, 70, 0))
			r.Close()
		}},
	} {
		b := flat.Clone()
		tt.paint(b)
		if s := run(b); s.Run == 0 || s.Run == tiles {
			t.Errorf("%s: %+v, want the tiles over it run and the rest reused", tt.name, s)
		}
		if s := run(flat); s.Run == 0 {
			t.Errorf("%s gone: %+v, want the tiles over it run again", tt.name, s)
		}
		b.Close()
	}
}

// counted runs one detection and returns what it found and the tiles it
// ran and answered from memory, as d counts them.
func counted(t *testing.T, d interface{ Tiles() detect.TileStats }, run func() ([]detect.Detection, error)) ([]detect.Detection, detect.TileStats) {
	t.Helper()
	before := d.Tiles()
	dets, err := run()
	if err != nil {
		t.Fatal(err)
	}
	after := d.Tiles()
	return dets, detect.TileStats{Run: after.Run - before.Run, Reused: after.Reused - before.Reused, Merged: after.Merged - before.Merged}
}

// Reuse is off by default: every tile runs on every frame.
func TestTileReuseOffByDefault(t *testing.T) {
	y, err := detect.NewYuNet(detect.YuNetConfig{Model: modelPath(t, models.YuNet640), Input: image.Pt(640, 480),
		Threshold: detect.SizeThreshold{High: 0.6}})
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	img := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
	defer img.Close()
	for range 2 {
		if _, err := y.Detect(img); err != nil {
			t.Fatal(err)
		}
	}
	if s := y.Tiles(); s.Run != 2 || s.Reused != 0 {
		t.Errorf("tiles %+v, want 2 run", s)
	}
}

// BenchmarkTileReuse is a 720p frame whose tiles are all answered from
// memory: the cost of tile reuse's change check (13 tiles).
func BenchmarkTileReuse(b *testing.B) {
	y, err := detect.NewYuNet(detect.YuNetConfig{Model: modelPath(b, models.YuNet640), Input: image.Pt(640, 480),
		Threshold: detect.SizeThreshold{High: 0.6}, Passes: []detect.Pass{{Zoom: 0}, {Zoom: 2, MaxTiles: 12}},
		Reuse: detect.Reuse{Threshold: 10, MaxAge: 1 << 20}})
	if err != nil {
		b.Fatal(err)
	}
	defer y.Close()
	img := gocv.NewMatWithSize(720, 1280, gocv.MatTypeCV8UC3)
	defer img.Close()
	if _, err := y.Detect(img); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := y.Detect(img); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if s := y.Tiles(); s.Reused < b.N {
		b.Fatalf("tiles %+v: want every tile reused", s)
	}
}

// plateFixture is a text detector with region reuse on, a real car photo
// (1920x1080, freed when the test ends) and its annotated plate.
func plateFixture(t *testing.T) (*detect.PPOCR, gocv.Mat, image.Rectangle) {
	t.Helper()
	p, err := detect.NewPPOCR(detect.PPOCRConfig{Model: modelPath(t, models.PPOCRDet), Input: image.Pt(640, 640), Threshold: 0.3, BoxThresh: 0.5,
		Reuse: detect.Reuse{Threshold: 10, MaxAge: 15}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	img := gocv.IMRead(filepath.Join(testenv.Data(t, "plates"), "images", plateFile), gocv.IMReadColor)
	if img.Empty() {
		t.Fatal("cannot read " + plateFile)
	}
	t.Cleanup(func() { img.Close() })
	return p, img, image.Rect(935, 362, 935+99, 362+49)
}

const plateFile = "0b86cecf-67d1-4fc0-87c9-b36b0ee228bb.jpg"

// The search inside a region (a vehicle) is reused while the region's
// pixels do not change, and run again when they do.
func TestRegionReuse(t *testing.T) {
	p, img, plate := plateFixture(t)
	roi := plate.Inset(-120)
	search := func(m gocv.Mat) ([]detect.Detection, detect.TileStats) {
		t.Helper()
		return counted(t, p, func() ([]detect.Detection, error) { return p.DetectZoomed(m, roi, 2, 4) })
	}
	d1, s1 := search(img)
	if s1.Run == 0 || !found(d1, plate) {
		t.Fatalf("first search: %+v, plate found %v", s1, found(d1, plate))
	}
	d2, s2 := search(img)
	if s2.Run != 0 || s2.Reused != 1 || !slices.Equal(d1, d2) {
		t.Errorf("same region again: %+v, want it answered from memory with the same boxes", s2)
	}
	// Something changes inside the region: searched again.
	changed := img.Clone()
	defer changed.Close()
	gocv.Rectangle(&changed, image.Rect(roi.Min.X+4, roi.Min.Y+4, roi.Min.X+40, roi.Min.Y+40), color.RGBA{255, 0, 0, 255}, -1)
	if _, s3 := search(changed); s3.Run == 0 {
		t.Errorf("changed region: %+v, want it searched again", s3)
	}
}

// A vehicle's box jitters from frame to frame (a parked car's by 10-25 px):
// a region inside one already searched, unchanged, is answered from memory;
// one overlapping it is searched as their union, which then answers both.
// Every answer covers the region asked for, at its magnification, from a
// search at most 1.5 times its area: the plate is found in each.
func TestRegionReuseJitter(t *testing.T) {
	p, img, plate := plateFixture(t)
	roi := plate.Inset(-120)
	for i, tc := range []struct {
		roi image.Rectangle
		run bool
	}{
		{roi, true},                                  // first look
		{roi.Add(image.Pt(24, -16)), true},           // jittered: the union is searched
		{roi, false},                                 // inside the union
		{roi.Add(image.Pt(12, -8)), false},           // inside the union
		{roi.Add(image.Pt(24, -16)).Inset(8), false}, // inside the union
		{roi.Add(image.Pt(-200, 0)), true},           // IoU 0.26: another vehicle
		{image.Rect(0, 0, 200, 200), true},           // elsewhere
		{roi.Inset(60), true},                        // inside the union, but a third of it: not answered by a search that large
		// 480x600 at 2x needs 6 tiles, over the bound of 4: searched at
		// less than 2x. A 400x560 region inside it (4 tiles at 2x) must
		// not be answered by that smaller magnification.
		{image.Rect(0, 300, 480, 900), true},
		{image.Rect(40, 320, 440, 880), true},
		{image.Rect(40, 320, 440, 880), false}, // its own search, again
	} {
		before := p.Tiles()
		d, err := p.DetectZoomed(img, tc.roi, 2, 4)
		if err != nil {
			t.Fatal(err)
		}
		ran := p.Tiles().Run > before.Run
		if ran != tc.run {
			t.Errorf("search %d (%v): network ran %v, want %v", i, tc.roi, ran, tc.run)
		}
		if plate.In(tc.roi) && !found(d, plate) {
			t.Errorf("search %d (%v): plate not found", i, tc.roi)
		}
	}
}

// A region small enough once magnified goes through a smaller network
// (SmallInput, or the one between it and Input) and finds the same plate as
// the full-size one: the plate search in distant vehicles.
func TestPPOCRSmallInput(t *testing.T) {
	img := gocv.IMRead(filepath.Join(testenv.Data(t, "plates"), "images", plateFile), gocv.IMReadColor)
	defer img.Close()
	quarter := gocv.NewMat()
	defer quarter.Close()
	gocv.Resize(img, &quarter, image.Pt(img.Cols()/4, img.Rows()/4), 0, 0, gocv.InterpolationArea)
	plate := image.Rect(935/4, 362/4, (935+99)/4, (362+49)/4)
	for _, c := range []struct {
		name string
		roi  image.Rectangle
	}{
		{"320x320", plate.Inset(-16)}, // 56x44: 224x176 magnified
		{"448x448", image.Rect(plate.Min.X-40, plate.Min.Y-20, plate.Max.X+36, plate.Max.Y+20)}, // 101x52: 404x208, too wide for 320
	} {
		t.Run(c.name, func(t *testing.T) {
			var got [][]detect.Detection
			for _, small := range []image.Point{{}, {320, 320}} {
				p, err := detect.NewPPOCR(detect.PPOCRConfig{Model: modelPath(t, models.PPOCRDet), Input: image.Pt(640, 640), Threshold: 0.3, BoxThresh: 0.5, SmallInput: small})
				if err != nil {
					t.Fatal(err)
				}
				d, err := p.DetectZoomed(quarter, c.roi, 4, 2)
				run := p.Tiles().Run
				p.Close()
				if err != nil {
					t.Fatal(err)
				}
				// One tile: a 320 input would have taken two for the larger region.
				if run != 1 {
					t.Errorf("small input %v: %d tiles run, want 1", small, run)
				}
				if !found(d, plate) {
					t.Errorf("small input %v: plate %v not found in %v", small, plate, d)
				}
				got = append(got, d)
			}
			t.Logf("640x640: %v; smaller: %v", got[0], got[1])
			// The same network run on the same pixels gives the same score; a
			// smaller input's other padding moves it: proof a smaller one ran.
			if len(got[0]) > 0 && len(got[1]) > 0 && got[0][0].Score == got[1][0].Score {
				t.Errorf("same score %v from both: the region did not go through a smaller input", got[0][0].Score)
			}
		})
	}
}
