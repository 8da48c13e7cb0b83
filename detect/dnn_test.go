package detect_test

import (
	"cmp"
	"image"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/detect"
	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/models"
)

// loadORT loads ONNX Runtime from the models directory (set-up installs it
// for x86-64 and arm64; elsewhere the test is skipped).
func loadORT(t testing.TB) {
	t.Helper()
	name := models.ONNXRuntimeLib(runtime.GOARCH)
	if name == "" {
		t.Skipf("set-up provides no ONNX Runtime for %s", runtime.GOARCH)
	}
	if err := detect.LoadONNXRuntime(modelPath(t, name)); err != nil {
		t.Fatal(err)
	}
}

// TestDNNsAgree: each ONNX detector finds the same boxes on ONNX Runtime as
// on OpenCV, on real faces and plates, through every input size Veil uses
// (YuNet's whole-frame and 2x tiles, PP-OCR's 640, 448 and 320 inputs,
// UltraFace, Yolo-Fastest's tiles and its light look's frame-shaped input,
// the Darknet files made into an ONNX model by darknetONNX). The engines' outputs differ by about 1e-5, so a box may move
// by a pixel and a score by a thousandth; no box may appear or vanish.
func TestDNNsAgree(t *testing.T) {
	loadORT(t)
	var images []string
	for _, set := range []string{"faces-dlib", "plates", "plates-small"} {
		dir := filepath.Join(testenv.Data(t, set), "images")
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range ents {
			if i%max(1, len(ents)/4) == 0 {
				images = append(images, filepath.Join(dir, e.Name()))
			}
		}
	}
	passes := []detect.Pass{{Zoom: 0}, {Zoom: 2, MaxTiles: 12}}
	type run func(gocv.Mat) ([]detect.Detection, error)
	tests := []struct {
		name string
		make func(dnn detect.DNN) (run, func() error, error)
	}{
		{"yunet", func(dnn detect.DNN) (run, func() error, error) {
			y, err := detect.NewYuNet(detect.YuNetConfig{Model: modelPath(t, models.YuNet640), Input: image.Pt(640, 480), Threshold: detect.SizeThreshold{High: 0.3}, Passes: passes, DNN: dnn})
			if err != nil {
				return nil, nil, err
			}
			return y.Detect, y.Close, nil
		}},
		{"yunet-s", func(dnn detect.DNN) (run, func() error, error) {
			y, err := detect.NewYuNet(detect.YuNetConfig{Model: modelPath(t, models.YuNetS640), Input: image.Pt(640, 640), V2023: true, Threshold: detect.SizeThreshold{High: 0.3}, DNN: dnn})
			if err != nil {
				return nil, nil, err
			}
			return y.Detect, y.Close, nil
		}},
		{"ultraface", func(dnn detect.DNN) (run, func() error, error) {
			u, err := detect.NewUltraFace(detect.UltraFaceConfig{Model: modelPath(t, models.UltraFace640), Input: image.Pt(640, 480), Threshold: detect.SizeThreshold{High: 0.7}, DNN: dnn})
			if err != nil {
				return nil, nil, err
			}
			return u.Detect, u.Close, nil
		}},
		{"yolo", func(dnn detect.DNN) (run, func() error, error) {
			y, err := detect.NewYolo(detect.YoloConfig{Cfg: modelPath(t, models.YoloCfg), Weights: modelPath(t, models.YoloWeights), Input: image.Pt(320, 320), Threshold: 0.25, Passes: []detect.Pass{{Zoom: 0}, {Zoom: 1, MaxTiles: 15}}, DNN: dnn})
			if err != nil {
				return nil, nil, err
			}
			// The tiled passes, then the light look through an input cut
			// to the frame's shape (320x256 for 4:3).
			return func(img gocv.Mat) ([]detect.Detection, error) {
				out, err := y.Detect(img)
				if err != nil {
					return nil, err
				}
				d, err := y.DetectWhole(img)
				return append(out, d...), err
			}, y.Close, nil
		}},
		{"ppocr", func(dnn detect.DNN) (run, func() error, error) {
			model := models.PPOCRDet
			if dnn == detect.ONNXRuntime {
				model = models.PPOCRDetORT
			}
			p, err := detect.NewPPOCR(detect.PPOCRConfig{Model: modelPath(t, model), Input: image.Pt(640, 640), Threshold: 0.3, BoxThresh: 0.5, SmallInput: image.Pt(320, 320), DNN: dnn})
			if err != nil {
				return nil, nil, err
			}
			// The whole frame, then three regions magnified 4x into the
			// 320, 448 and 640 inputs.
			return func(img gocv.Mat) ([]detect.Detection, error) {
				out, err := p.Detect(img)
				if err != nil {
					return nil, err
				}
				w, h := img.Cols(), img.Rows()
				for _, r := range []image.Rectangle{image.Rect(w/4, h/3, w/4+64, h/3+64), image.Rect(w/2, h/2, w/2+96, h/2+64), image.Rect(0, h/2, 150, h/2+100)} {
					d, err := p.DetectZoomed(img, r.Intersect(image.Rect(0, 0, w, h)), 4, 2)
					if err != nil {
						return nil, err
					}
					out = append(out, d...)
				}
				return out, nil
			}, p.Close, nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cvRun, cvClose, err := tt.make(detect.OpenCV)
			if err != nil {
				t.Fatal(err)
			}
			defer cvClose()
			ortRun, ortClose, err := tt.make(detect.ONNXRuntime)
			if err != nil {
				t.Fatal(err)
			}
			defer ortClose()
			total := 0
			for _, path := range images {
				img := gocv.IMRead(path, gocv.IMReadColor)
				if img.Empty() {
					t.Fatalf("cannot read %s", path)
				}
				a, errA := cvRun(img)
				b, errB := ortRun(img)
				img.Close()
				if errA != nil || errB != nil {
					t.Fatalf("%s: opencv %v, onnxruntime %v", path, errA, errB)
				}
				total += len(a)
				if !sameDetections(a, b) {
					t.Errorf("%s: opencv found %v\nonnxruntime %v", filepath.Base(path), a, b)
				}
			}
			if total == 0 {
				t.Fatal("no detections at all: nothing was compared")
			}
			t.Logf("%d images, %d boxes alike", len(images), total)
		})
	}
}

// sameDetections: as many boxes, each within a pixel and its score within
// 1e-3 of its counterpart (both sorted by position).
func sameDetections(a, b []detect.Detection) bool {
	if len(a) != len(b) {
		return false
	}
	order := func(x, y detect.Detection) int {
		return cmp.Or(cmp.Compare(x.Box.Min.Y, y.Box.Min.Y), cmp.Compare(x.Box.Min.X, y.Box.Min.X))
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, order)
	slices.SortFunc(b, order)
	near := func(p, q int) bool { return p-q <= 1 && q-p <= 1 }
	for i := range a {
		x, y := a[i].Box, b[i].Box
		if a[i].Class != b[i].Class || !near(x.Min.X, y.Min.X) || !near(x.Min.Y, y.Min.Y) || !near(x.Max.X, y.Max.X) || !near(x.Max.Y, y.Max.Y) {
			return false
		}
		if d := a[i].Score - b[i].Score; d > 1e-3 || d < -1e-3 {
			return false
		}
	}
	return true
}

// TestONNXRuntimeErrors: what ONNX Runtime cannot load is an error, never a
// crash: OpenCV's edited PP-OCR file (invalid ONNX), a file that is no
// model, and the library again from another path.
func TestONNXRuntimeErrors(t *testing.T) {
	loadORT(t)
	lib := modelPath(t, models.ONNXRuntimeLib(runtime.GOARCH))
	if err := detect.LoadONNXRuntime(lib); err != nil {
		t.Errorf("loading again from the same path: %v", err)
	}
	if err := detect.LoadONNXRuntime(filepath.Join(t.TempDir(), "libonnxruntime.so")); err == nil {
		t.Error("loading from another path: no error")
	}
	if _, err := detect.NewPPOCR(detect.PPOCRConfig{Model: modelPath(t, models.PPOCRDet), Input: image.Pt(640, 640), Threshold: 0.3, BoxThresh: 0.5, DNN: detect.ONNXRuntime}); err == nil {
		t.Error("OpenCV's edited PP-OCR file on ONNX Runtime: no error")
	}
	junk := filepath.Join(t.TempDir(), "junk.onnx")
	if err := os.WriteFile(junk, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := detect.NewYuNet(detect.YuNetConfig{Model: junk, Input: image.Pt(640, 480), DNN: detect.ONNXRuntime}); err == nil {
		t.Error("a file that is no model: no error")
	}
}
