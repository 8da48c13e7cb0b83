package detect_test

import (
	"image"
	"testing"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/detect"
	"github.com/veil-gateway/veil/internal/cvthreads"
	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/models"
)

// BenchmarkDetectors is each network pass a detection of the live preset
// runs, alone, on vtest.avi's first frame (768x576), nothing reused, on
// each inference engine (opencv/..., onnxruntime/...: the ratio is what
// dnn: auto buys): wall time per op, and CPU per op (cpu-ms/op, the
// engines' threads included; OpenCV on one thread, as guard cameras run
// it). The plate search's three inputs are timed on a parked car's region
// at 4x (48x48: 320; 96x64: 448) and on one too large for both (640), and
// the 448 region again padded to 640 as before the third input; the
// counting light look through its input shaped like the frame and through
// the square one it replaced. The live preset's whole-frame plate pass is
// timed as tiles and, on ONNX Runtime, merged into one input
// (PPOCRConfig.Merge).
func BenchmarkDetectors(b *testing.B) {
	frame := vtestFrame(b)
	defer frame.Close()
	loadORT(b)
	defer cvthreads.Set(cvthreads.Get())
	cvthreads.Set(1)
	for _, dnn := range []detect.DNN{detect.OpenCV, detect.ONNXRuntime} {
		b.Run(dnn.String(), func(b *testing.B) { benchDetectors(b, frame, dnn) })
	}
}

func benchDetectors(b *testing.B, frame gocv.Mat, dnn detect.DNN) {
	th := detect.SizeThreshold{High: 0.9, Mid: 0.35, Low: 0.3, MidWidth: 96, SmallWidth: 24}
	yunet := func(p detect.Pass) *detect.YuNet {
		y, err := detect.NewYuNet(detect.YuNetConfig{Model: modelPath(b, models.YuNet640), Input: image.Pt(640, 480), Threshold: th, Passes: []detect.Pass{p}, DNN: dnn})
		if err != nil {
			b.Fatal(err)
		}
		return y
	}
	faces0, faces2 := yunet(detect.Pass{}), yunet(detect.Pass{Zoom: 2, MaxTiles: 12})
	defer faces0.Close()
	defer faces2.Close()
	ppocr := models.PPOCRDet
	if dnn == detect.ONNXRuntime {
		ppocr = models.PPOCRDetORT
	}
	text, err := detect.NewPPOCR(detect.PPOCRConfig{Model: modelPath(b, ppocr), Input: image.Pt(640, 640), Threshold: 0.3, BoxThresh: 0.5, Passes: []detect.Pass{{}}, SmallInput: image.Pt(320, 320), DNN: dnn})
	if err != nil {
		b.Fatal(err)
	}
	defer text.Close()
	large, err := detect.NewPPOCR(detect.PPOCRConfig{Model: modelPath(b, ppocr), Input: image.Pt(640, 640), Threshold: 0.3, BoxThresh: 0.5, DNN: dnn})
	if err != nil {
		b.Fatal(err)
	}
	defer large.Close()
	// The live preset's whole-frame pass (1x, up to 6 tiles: two 640x640
	// tiles over vtest), and on ONNX Runtime the same merged into one
	// 768x576 input.
	onePass := func(merge bool) *detect.PPOCR {
		p, err := detect.NewPPOCR(detect.PPOCRConfig{Model: modelPath(b, ppocr), Input: image.Pt(640, 640), Threshold: 0.3, BoxThresh: 0.5, Passes: []detect.Pass{{Zoom: 1, MaxTiles: 6}}, DNN: dnn, Merge: merge})
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	text1x, text1xMerged := onePass(false), onePass(false)
	if dnn == detect.ONNXRuntime {
		text1xMerged.Close()
		text1xMerged = onePass(true)
	}
	defer text1x.Close()
	defer text1xMerged.Close()
	yolo, err := detect.NewYolo(detect.YoloConfig{Cfg: modelPath(b, models.YoloCfg), Weights: modelPath(b, models.YoloWeights), Input: image.Pt(320, 320), Threshold: 0.25, Passes: []detect.Pass{{}, {Zoom: 1, MaxTiles: 15}}, DNN: dnn})
	if err != nil {
		b.Fatal(err)
	}
	defer yolo.Close()
	square, err := detect.NewYolo(detect.YoloConfig{Cfg: modelPath(b, models.YoloCfg), Weights: modelPath(b, models.YoloWeights), Input: image.Pt(320, 320), Threshold: 0.25, DNN: dnn})
	if err != nil {
		b.Fatal(err)
	}
	defer square.Close()
	zoomed := func(r image.Rectangle) func() ([]detect.Detection, error) {
		return func() ([]detect.Detection, error) { return text.DetectZoomed(frame, r, 4, 2) }
	}
	for _, c := range []struct {
		name string
		run  func() ([]detect.Detection, error)
	}{
		{"faces-whole", func() ([]detect.Detection, error) { return faces0.Detect(frame) }},
		{"faces-2x-tiles", func() ([]detect.Detection, error) { return faces2.Detect(frame) }},
		{"plates-whole", func() ([]detect.Detection, error) { return text.Detect(frame) }},
		{"plates-1x-tiles", func() ([]detect.Detection, error) { return text1x.Detect(frame) }},
		{"plates-1x-merged", func() ([]detect.Detection, error) { return text1xMerged.Detect(frame) }}, // OpenCV: tiles again
		{"plates-in-vehicle-320", zoomed(image.Rect(720, 48, 768, 96))},
		{"plates-in-vehicle-448", zoomed(image.Rect(640, 48, 736, 112))},
		{"plates-in-vehicle-640", zoomed(image.Rect(560, 40, 720, 120))},
		{"plates-in-vehicle-448-region-at-640", func() ([]detect.Detection, error) {
			return large.DetectZoomed(frame, image.Rect(640, 48, 736, 112), 4, 2)
		}},
		{"vehicles-full", func() ([]detect.Detection, error) { return yolo.Detect(frame) }},
		{"counting-light-look", func() ([]detect.Detection, error) { return yolo.DetectWhole(frame) }},
		{"counting-light-look-square", func() ([]detect.Detection, error) { return square.Detect(frame) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			if _, err := c.run(); err != nil { // warm: first runs allocate
				b.Fatal(err)
			}
			c0 := testenv.CPUTime()
			for b.Loop() {
				if _, err := c.run(); err != nil {
					b.Fatal(err)
				}
			}
			testenv.ReportCPU(b, c0)
		})
	}
}
