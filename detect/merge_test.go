package detect_test

import (
	"image"
	"image/color"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/detect"
	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/models"
)

// mergedPPOCR is the live preset's whole-frame plate pass on ONNX Runtime,
// its tiles merged into one input or not.
func mergedPPOCR(t *testing.T, merge bool, reuse detect.Reuse) *detect.PPOCR {
	t.Helper()
	d, err := detect.NewPPOCR(detect.PPOCRConfig{Model: modelPath(t, models.PPOCRDetORT), Input: image.Pt(640, 640), Threshold: 0.3, BoxThresh: 0.5,
		Passes: []detect.Pass{{Zoom: 1, MaxTiles: 6}}, Reuse: reuse, DNN: detect.ONNXRuntime, Merge: merge})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// covered reports whether dets cover at least half of want, as the
// plate tests judge a hit.
func covered(dets []detect.Detection, want image.Rectangle) bool {
	for _, d := range dets {
		if i := d.Box.Intersect(want); i.Dx()*i.Dy()*2 >= want.Dx()*want.Dy() {
			return true
		}
	}
	return false
}

// TestPPOCRMergedFindsPlates: a pass's tiles looked at in one input shaped
// like the frame (Merge) find every plate the tiles find, on real 720p
// photos and on distant plates, and each such frame is one network run.
func TestPPOCRMergedFindsPlates(t *testing.T) {
	loadORT(t)
	tiled, merged := mergedPPOCR(t, false, detect.Reuse{}), mergedPPOCR(t, true, detect.Reuse{})
	defer tiled.Close()
	defer merged.Close()
	hitT, hitM, total, frames := 0, 0, 0, 0
	for _, set := range []struct {
		dir string
		n   int
	}{{"plates", 10}, {"plates-small", 6}} {
		dir := testenv.Data(t, set.dir)
		gt := readGT(t, filepath.Join(dir, "gt.csv"))
		for _, file := range sortedSample(keys(gt), set.n) {
			img := gocv.IMRead(filepath.Join(dir, "images", file), gocv.IMReadColor)
			if img.Empty() {
				t.Fatalf("cannot read %s", file)
			}
			dt, st := counted(t, tiled, func() ([]detect.Detection, error) { return tiled.Detect(img) })
			dm, sm := counted(t, merged, func() ([]detect.Detection, error) { return merged.Detect(img) })
			img.Close()
			if st.Run > 1 {
				frames++
				if sm.Run != 1 || sm.Merged != 1 {
					t.Errorf("%s/%s: merged detector ran %+v, want one merged run for %d tiles", set.dir, file, sm, st.Run)
				}
			}
			for _, b := range gt[file] {
				total++
				ht, hm := covered(dt, b), covered(dm, b)
				if ht {
					hitT++
				}
				if hm {
					hitM++
				}
				if ht && !hm {
					t.Errorf("%s/%s: plate %v found through tiles, not merged", set.dir, file, b)
				}
			}
		}
	}
	t.Logf("plates found: tiles %d, merged %d, of %d; %d frames merged", hitT, hitM, total, frames)
	if frames == 0 {
		t.Error("no frame needed more than one tile: the test shows nothing")
	}
	if hitM*10 < total*9 {
		t.Errorf("merged found %d of %d plates, want >= 90%%", hitM, total)
	}
}

// With reuse, a merged run answers each tile's memo with the boxes inside
// it, so the same frame again is answered from memory, destroying at least
// the same pixels; a plate painted over runs again and is gone.
func TestPPOCRMergedReuse(t *testing.T) {
	loadORT(t)
	dir := testenv.Data(t, "plates")
	gt := readGT(t, filepath.Join(dir, "gt.csv"))
	file := sortedSample(keys(gt), 10)[0]
	a := gocv.IMRead(filepath.Join(dir, "images", file), gocv.IMReadColor)
	if a.Empty() {
		t.Fatalf("cannot read %s", file)
	}
	defer a.Close()
	d := mergedPPOCR(t, true, detect.Reuse{Threshold: 10, MaxAge: 2})
	defer d.Close()
	d1, s1 := counted(t, d, func() ([]detect.Detection, error) { return d.Detect(a) })
	if s1.Run != 1 || s1.Merged != 1 || !covered(d1, gt[file][0]) {
		t.Fatalf("first frame: %+v, plate found %v; want one merged run finding it", s1, covered(d1, gt[file][0]))
	}
	d2, s2 := counted(t, d, func() ([]detect.Detection, error) { return d.Detect(a) })
	if s2.Run != 0 || s2.Reused < 2 {
		t.Errorf("same frame again: %+v, want every tile answered from memory", s2)
	}
	m1, m2 := boxMask(a, d1), boxMask(a, d2)
	defer m1.Close()
	defer m2.Close()
	gocv.Subtract(m1, m2, &m1) // what d1 destroyed and d2 does not
	if n := gocv.CountNonZero(m1); n != 0 {
		t.Errorf("same frame again: %d pixels destroyed the first time are not the second", n)
	}
	b := a.Clone()
	defer b.Close()
	gocv.Rectangle(&b, detect.Pad(gt[file][0], 0.5, 0.5, image.Rect(0, 0, b.Cols(), b.Rows())), color.RGBA{128, 128, 128, 255}, -1)
	d3, s3 := counted(t, d, func() ([]detect.Detection, error) { return d.Detect(b) })
	if s3.Run == 0 || covered(d3, gt[file][0]) {
		t.Errorf("plate painted over: %+v, still reported %v; want its tiles run again and the plate gone", s3, covered(d3, gt[file][0]))
	}
}

// boxMask is a mask of img's size with dets' boxes set.
func boxMask(img gocv.Mat, dets []detect.Detection) gocv.Mat {
	m := gocv.Zeros(img.Rows(), img.Cols(), gocv.MatTypeCV8U)
	for _, d := range dets {
		gocv.Rectangle(&m, d.Box, color.RGBA{255, 255, 255, 255}, -1)
	}
	return m
}
