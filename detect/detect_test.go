package detect_test

import (
	"encoding/csv"
	"image"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/detect"
	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/models"
)

// readGT reads file,x,y,w,h,... rows into boxes per file.
func readGT(t testing.TB, path string) map[string][]image.Rectangle {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]image.Rectangle{}
	for _, r := range rows[1:] {
		v := make([]int, 4)
		for i := range v {
			v[i], _ = strconv.Atoi(r[i+1])
		}
		out[r[0]] = append(out[r[0]], image.Rect(v[0], v[1], v[0]+v[2], v[1]+v[3]))
	}
	return out
}

type detector interface {
	Detect(gocv.Mat) ([]detect.Detection, error)
	Close() error
}

// detectFile reads an image and runs d on it.
func detectFile(t testing.TB, d detector, path string) []detect.Detection {
	t.Helper()
	img := gocv.IMRead(path, gocv.IMReadColor)
	if img.Empty() {
		t.Fatalf("cannot read %s", path)
	}
	defer img.Close()
	dets, err := d.Detect(img)
	if err != nil {
		t.Fatal(err)
	}
	return dets
}

func modelPath(t testing.TB, name string) string {
	t.Helper()
	p, err := models.Open(testenv.Models(t)).Path(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var found = detect.Found

// TestFaceDetectorsOnDlib runs each face detector over the 43 faces of
// faces-dlib and requires every one found (IoU >= 0.3).
func TestFaceDetectorsOnDlib(t *testing.T) {
	dir := testenv.Data(t, "faces-dlib")
	gt := readGT(t, filepath.Join(dir, "gt.csv"))
	tests := []struct {
		name string
		make func() (detector, error)
		want int
	}{
		{"yunet-640", func() (detector, error) {
			return detect.NewYuNet(detect.YuNetConfig{Model: modelPath(t, models.YuNet640), Input: image.Pt(640, 480), Threshold: detect.SizeThreshold{High: 0.6}})
		}, 43},
		// The 2023 anchor-free models: a wrong decode finds none (or
		// misplaced boxes) and fails here.
		{"yunet-s-640", func() (detector, error) {
			return detect.NewYuNet(detect.YuNetConfig{Model: modelPath(t, models.YuNetS640), Input: image.Pt(640, 640), V2023: true, Threshold: detect.SizeThreshold{High: 0.5}})
		}, 43},
		{"yunet-n-640", func() (detector, error) {
			return detect.NewYuNet(detect.YuNetConfig{Model: modelPath(t, models.YuNetN640), Input: image.Pt(640, 640), V2023: true, Threshold: detect.SizeThreshold{High: 0.5}})
		}, 43},
		{"ultraface-640", func() (detector, error) {
			return detect.NewUltraFace(detect.UltraFaceConfig{Model: modelPath(t, models.UltraFace640), Input: image.Pt(640, 480), Threshold: detect.SizeThreshold{High: 0.7}})
		}, 43},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := tt.make()
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			hit, total := 0, 0
			for file, boxes := range gt {
				dets := detectFile(t, d, filepath.Join(dir, "images", file))
				for _, b := range boxes {
					total++
					if found(dets, b) {
						hit++
					} else {
						t.Logf("missed %s %v", file, b)
					}
				}
			}
			if hit < tt.want {
				t.Errorf("found %d of %d faces, want at least %d", hit, total, tt.want)
			}
		})
	}
}

// TestPPOCRFindsPlates checks the text detector hits the annotated plate on
// real car photos, at 640 wide as a first pass sees them.
func TestPPOCRFindsPlates(t *testing.T) {
	dir := testenv.Data(t, "plates")
	gt := readGT(t, filepath.Join(dir, "gt.csv"))
	d, err := detect.NewPPOCR(detect.PPOCRConfig{Model: modelPath(t, models.PPOCRDet), Input: image.Pt(640, 640), Threshold: 0.3, BoxThresh: 0.5, Passes: []detect.Pass{{Zoom: 1, MaxTiles: 6}}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// A fixed, spread sample keeps the test quick.
	hit, total := 0, 0
	for _, file := range sortedSample(keys(gt), 12) {
		dets := detectFile(t, d, filepath.Join(dir, "images", file))
		for _, b := range gt[file] {
			total++
			for _, dd := range dets {
				if dd.Box.Intersect(b).Dx()*dd.Box.Intersect(b).Dy()*2 >= b.Dx()*b.Dy() {
					hit++
					break
				}
			}
		}
	}
	if hit*10 < total*9 {
		t.Errorf("plates hit %d of %d, want >= 90%%", hit, total)
	}
}

func sortedSample(files []string, n int) []string {
	sort.Strings(files)
	if len(files) <= n {
		return files
	}
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, files[i*len(files)/n])
	}
	return out
}

func TestBadFrameIsAnError(t *testing.T) {
	y, err := detect.NewYuNet(detect.YuNetConfig{Model: modelPath(t, models.YuNet640), Input: image.Pt(640, 480), Threshold: detect.SizeThreshold{High: 0.6}})
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	for _, m := range []gocv.Mat{gocv.NewMat(), gocv.NewMatWithSize(10, 10, gocv.MatTypeCV8UC1), gocv.NewMatWithSize(1, 1, gocv.MatTypeCV8UC3)} {
		if _, err := y.Detect(m); err == nil {
			t.Errorf("Detect on a %dx%d type %v Mat: want an error", m.Cols(), m.Rows(), m.Type())
		}
		m.Close()
	}
}

func TestMissingModelIsAnError(t *testing.T) {
	_, err := detect.NewYuNet(detect.YuNetConfig{Model: filepath.Join(t.TempDir(), "nope.onnx"), Input: image.Pt(640, 480), Threshold: detect.SizeThreshold{High: 0.6}})
	if err == nil {
		t.Fatal("want an error for a missing model")
	}
}

// TestYoloFindsPeopleAndVehicles: on the pedestrian clip's first frame Yolo
// finds people, and on a plate photo it finds the car.
func TestYoloFindsPeopleAndVehicles(t *testing.T) {
	y, err := detect.NewYolo(detect.YoloConfig{Cfg: modelPath(t, models.YoloCfg), Weights: modelPath(t, models.YoloWeights), Input: image.Pt(320, 320), Threshold: 0.3})
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	frame := vtestFrame(t)
	defer frame.Close()
	dets, err := y.Detect(frame)
	if err != nil {
		t.Fatal(err)
	}
	people := 0
	for _, d := range dets {
		if d.Class == detect.Person {
			people++
		}
	}
	if people < 2 {
		t.Errorf("found %d people in vtest frame 0, want >= 2: %+v", people, dets)
	}
	dir := testenv.Data(t, "plates")
	gt := readGT(t, filepath.Join(dir, "gt.csv"))
	cars := 0
	sample := sortedSample(keys(gt), 10)
	for _, file := range sample {
		for _, d := range detectFile(t, y, filepath.Join(dir, "images", file)) {
			if d.Class.IsVehicle() && gt[file][0].Overlaps(d.Box) {
				cars++
				break
			}
		}
	}
	if cars < len(sample)*6/10 {
		t.Errorf("a vehicle around the plate in %d of %d photos, want >= 60%%", cars, len(sample))
	}
}

// vtestFrame is vtest.avi's first frame (768x576); the caller closes it.
func vtestFrame(tb testing.TB) gocv.Mat {
	tb.Helper()
	frame := gocv.NewMat()
	detect.EachVtestFrame(tb, 1, func(_ int, f gocv.Mat) { f.CopyTo(&frame) })
	if frame.Empty() {
		frame.Close()
		tb.Fatal("no frame from vtest.avi")
	}
	return frame
}

func keys(m map[string][]image.Rectangle) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestYoloWholeShaped: DetectWhole runs an input cut to the frame's shape
// (320x256 for vtest's 4:3, 320x192 for a 16:9 crop of it) and finds the
// people a square 320x320 input finds, where they are.
func TestYoloWholeShaped(t *testing.T) {
	cfg := detect.YoloConfig{Cfg: modelPath(t, models.YoloCfg), Weights: modelPath(t, models.YoloWeights), Input: image.Pt(320, 320), Threshold: 0.25}
	shaped, err := detect.NewYolo(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer shaped.Close()
	square, err := detect.NewYolo(cfg) // Detect with no passes: one look, padded to 320x320
	if err != nil {
		t.Fatal(err)
	}
	defer square.Close()
	vc, err := gocv.OpenVideoCapture(testenv.Data(t, "video/vtest.avi"))
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	frame := gocv.NewMat()
	defer frame.Close()
	people := func(d []detect.Detection) []image.Rectangle {
		var out []image.Rectangle
		for _, x := range d {
			if x.Class == detect.Person {
				out = append(out, x.Box)
			}
		}
		return out
	}
	matched := func(a, b []image.Rectangle) int {
		n := 0
		for _, x := range a {
			for _, y := range b {
				if detect.IoU(x, y) >= 0.5 {
					n++
					break
				}
			}
		}
		return n
	}
	total, inShaped, inSquare, nShaped := 0, 0, 0, 0
	for i := 0; i < 200; i++ {
		if !vc.Read(&frame) || frame.Empty() {
			t.Fatalf("vtest.avi ended at frame %d", i)
		}
		if i%40 != 0 {
			continue
		}
		for _, crop := range []image.Rectangle{image.Rect(0, 0, frame.Cols(), frame.Rows()), image.Rect(0, 72, 768, 504)} { // 4:3, 16:9
			region := frame.Region(crop)
			img := region.Clone()
			region.Close()
			a, err := square.Detect(img)
			if err != nil {
				t.Fatal(err)
			}
			b, err := shaped.DetectWhole(img)
			img.Close()
			if err != nil {
				t.Fatal(err)
			}
			pa, pb := people(a), people(b)
			total += len(pa)
			nShaped += len(pb)
			inShaped += matched(pa, pb)
			inSquare += matched(pb, pa)
		}
	}
	t.Logf("people: square input %d, of them found by the shaped one %d; shaped %d, of them found by the square one %d", total, inShaped, nShaped, inSquare)
	if total < 20 {
		t.Fatalf("the square input found %d people in 10 looks, want >= 20", total)
	}
	if inShaped*10 < total*9 || inSquare*10 < nShaped*9 {
		t.Errorf("shaped and square inputs disagree: %d of %d and %d of %d matched (want 90 %%)", inShaped, total, inSquare, nShaped)
	}
}
