package detect

import (
	"fmt"
	"image"
	"math"

	"gocv.io/x/gocv"
)

// YuNet is the YuNet face detector (libfacedetection.train): the 2021 model
// (MIT, anchors, decoded in Go as cv::FaceDetectorYN does in OpenCV 4.6) or
// a 2023 one (Apache-2.0, anchor-free, decoded as OpenCV 4.8's does). Each is
// a fixed-input ONNX file.
type YuNet struct {
	in        image.Point
	v2023     bool
	priors    []prior // 2021 only
	threshold SizeThreshold
	t         *tiler
}

type prior struct{ cx, cy, w, h float32 }

// YuNetConfig sets up a YuNet detector.
type YuNetConfig struct {
	Model string      // path to a yunet_2021sep_static_WxH.onnx or yunet_{n,s}_W_H.onnx file
	Input image.Point // the file's fixed input size, e.g. 640x480
	// V2023 says Model is a 2023 (anchor-free) file.
	V2023     bool
	Threshold SizeThreshold // score thresholds; low values favour recall
	Passes    []Pass
	Reuse     Reuse // answer unchanged tiles from memory (off when zero)
	DNN       DNN   // the inference engine
}

// NewYuNet loads the model. The file is checked before the engine reads it.
func NewYuNet(c YuNetConfig) (*YuNet, error) {
	if c.Input.X%32 != 0 || c.Input.Y%16 != 0 || c.Input.X <= 0 || c.Input.Y <= 0 || (c.V2023 && c.Input.Y%32 != 0) {
		return nil, fmt.Errorf("yunet: input %v must be a multiple of 32x16 (2023: 32x32)", c.Input)
	}
	outs := []string{"loc", "conf", "iou"}
	if c.V2023 {
		outs = yunet2023Outputs
	}
	net, err := loadNet("yunet", c.Model, outs, c.DNN)
	if err != nil {
		return nil, err
	}
	y := &YuNet{in: c.Input, v2023: c.V2023, threshold: c.Threshold}
	if !c.V2023 {
		y.priors = yunetPriors(c.Input.X, c.Input.Y)
	}
	y.t = newTiler(y, net, c.Passes, c.Reuse)
	return y, nil
}

func yunetPriors(w, h int) []prior {
	fw, fh := ((w+1)/2)/2, ((h+1)/2)/2
	minSizes := [][]float32{{10, 16, 24}, {32, 48}, {64, 96}, {128, 192, 256}}
	steps := []int{8, 16, 32, 64}
	var out []prior
	for i := range steps {
		fw, fh = fw/2, fh/2
		for r := 0; r < fh; r++ {
			for c := 0; c < fw; c++ {
				for _, ms := range minSizes[i] {
					out = append(out, prior{
						cx: (float32(c) + 0.5) * float32(steps[i]) / float32(w),
						cy: (float32(r) + 0.5) * float32(steps[i]) / float32(h),
						w:  ms / float32(w),
						h:  ms / float32(h),
					})
				}
			}
		}
	}
	return out
}

// Close frees the network.
func (y *YuNet) Close() error {
	return y.t.close()
}

// Detect returns the faces in img (BGR), after merging overlapping boxes.
func (y *YuNet) Detect(img gocv.Mat) ([]Detection, error) {
	return y.DetectIn(img, image.Rect(0, 0, img.Cols(), img.Rows()))
}

// DetectIn looks only inside roi.
func (y *YuNet) DetectIn(img gocv.Mat, roi image.Rectangle) ([]Detection, error) {
	d, err := y.t.detect(img, roi)
	if err != nil {
		return nil, err
	}
	return DropContained(y.threshold.Keep(d), 0.9), nil
}

func (y *YuNet) inputSize() image.Point { return y.in }

func (y *YuNet) infer(in gocv.Mat) ([]Detection, error) {
	outs, err := y.t.dnn.forward(in, blobSpec{scale: 1})
	if err != nil {
		return nil, err
	}
	if y.v2023 {
		return y.infer2023(outs)
	}
	n := len(y.priors)
	loc, err := values("loc", outs[0].v, n*14)
	if err != nil {
		return nil, err
	}
	conf, err := values("conf", outs[1].v, n*2)
	if err != nil {
		return nil, err
	}
	iou, err := values("iou", outs[2].v, n)
	if err != nil {
		return nil, err
	}
	W, H := float32(y.in.X), float32(y.in.Y)
	var dets []Detection
	for i, p := range y.priors {
		cls := conf[i*2+1]
		io := min(max(iou[i], 0), 1)
		score := float32(math.Sqrt(float64(cls * io)))
		if score < y.threshold.min() {
			continue
		}
		cx := (p.cx + loc[i*14+0]*0.1*p.w) * W
		cy := (p.cy + loc[i*14+1]*0.1*p.h) * H
		w := p.w * float32(math.Exp(float64(loc[i*14+2]*0.1))) * W
		h := p.h * float32(math.Exp(float64(loc[i*14+3]*0.2))) * H
		dets = append(dets, Detection{
			Box:   image.Rect(int(cx-w/2), int(cy-h/2), int(math.Ceil(float64(cx+w/2))), int(math.Ceil(float64(cy+h/2)))),
			Class: Face,
			Score: score,
		})
	}
	return NMS(dets, 0.3), nil
}

var yunet2023Outputs = []string{"cls_8", "cls_16", "cls_32", "obj_8", "obj_16", "obj_32", "bbox_8", "bbox_16", "bbox_32"}

// infer2023 decodes the anchor-free model: at each stride's grid cell, a
// score sqrt(cls*obj) and a box as offsets of the cell and log sizes in
// strides (OpenCV 4.8's FaceDetectorYN::postProcess).
func (y *YuNet) infer2023(outs []tensor) ([]Detection, error) {
	var dets []Detection
	for i, stride := range []int{8, 16, 32} {
		cols, rows := y.in.X/stride, y.in.Y/stride
		n := cols * rows
		// Exact sizes: a file made for another input would decode to
		// misplaced boxes, not to an error, if only "enough" were checked.
		for k, want := range []int{n, n, 4 * n} {
			if got := len(outs[3*k+i].v); got != want {
				return nil, fmt.Errorf("yunet: output %s has %d values, want %d (is the model's input %v?)", yunet2023Outputs[3*k+i], got, want, y.in)
			}
		}
		cls, obj, bbox := outs[i].v, outs[3+i].v, outs[6+i].v
		s := float32(stride)
		for idx := range n {
			score := float32(math.Sqrt(float64(min(max(cls[idx], 0), 1) * min(max(obj[idx], 0), 1))))
			if score < y.threshold.min() {
				continue
			}
			r, c := idx/cols, idx%cols
			cx := (float32(c) + bbox[idx*4]) * s
			cy := (float32(r) + bbox[idx*4+1]) * s
			w := float32(math.Exp(float64(bbox[idx*4+2]))) * s
			h := float32(math.Exp(float64(bbox[idx*4+3]))) * s
			dets = append(dets, Detection{
				Box:   image.Rect(int(cx-w/2), int(cy-h/2), int(math.Ceil(float64(cx+w/2))), int(math.Ceil(float64(cy+h/2)))),
				Class: Face,
				Score: score,
			})
		}
	}
	return NMS(dets, 0.3), nil
}

// Tiles counts the tiles run and reused so far.
func (y *YuNet) Tiles() TileStats { return y.t.stats() }
