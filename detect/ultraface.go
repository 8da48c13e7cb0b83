package detect

import (
	"fmt"
	"image"
	"math"

	"gocv.io/x/gocv"
)

// UltraFace is the Ultra-Light-Fast face detector (RFB-640, MIT). Its outputs
// are already decoded: scores [1,N,2] and normalised corner boxes [1,N,4]. It
// complements YuNet on masked and turned faces.
type UltraFace struct {
	in        image.Point
	threshold SizeThreshold
	t         *tiler
}

// UltraFaceConfig sets up an UltraFace detector.
type UltraFaceConfig struct {
	Model     string
	Input     image.Point // 640x480 for RFB-640
	Threshold SizeThreshold
	Passes    []Pass
	Reuse     Reuse // answer unchanged tiles from memory (off when zero)
	DNN       DNN   // the inference engine
}

// NewUltraFace loads the model.
func NewUltraFace(c UltraFaceConfig) (*UltraFace, error) {
	if c.Input.X <= 0 || c.Input.Y <= 0 {
		return nil, fmt.Errorf("ultraface: bad input size %v", c.Input)
	}
	net, err := loadNet("ultraface", c.Model, []string{"scores", "boxes"}, c.DNN)
	if err != nil {
		return nil, err
	}
	u := &UltraFace{in: c.Input, threshold: c.Threshold}
	u.t = newTiler(u, net, c.Passes, c.Reuse)
	return u, nil
}

// Close frees the network.
func (u *UltraFace) Close() error {
	return u.t.close()
}

// Detect returns the faces in img.
func (u *UltraFace) Detect(img gocv.Mat) ([]Detection, error) {
	d, err := u.t.detect(img, image.Rect(0, 0, img.Cols(), img.Rows()))
	if err != nil {
		return nil, err
	}
	return DropContained(u.threshold.Keep(d), 0.9), nil
}

func (u *UltraFace) inputSize() image.Point { return u.in }

func (u *UltraFace) infer(in gocv.Mat) ([]Detection, error) {
	outs, err := u.t.dnn.forward(in, blobSpec{scale: 1.0 / 128, mean: [3]float64{127, 127, 127}, swapRB: true})
	if err != nil {
		return nil, err
	}
	scores := outs[0].v
	n := len(scores) / 2
	boxes, err := values("boxes", outs[1].v, n*4)
	if err != nil {
		return nil, err
	}
	W, H := float64(u.in.X), float64(u.in.Y)
	var dets []Detection
	for i := 0; i < n; i++ {
		s := scores[i*2+1]
		if s < u.threshold.min() {
			continue
		}
		b := boxes[i*4 : i*4+4]
		dets = append(dets, Detection{
			Box: image.Rect(int(float64(b[0])*W), int(float64(b[1])*H),
				int(math.Ceil(float64(b[2])*W)), int(math.Ceil(float64(b[3])*H))),
			Class: Face,
			Score: s,
		})
	}
	return NMS(dets, 0.3), nil
}

// Union runs several detectors and returns all their boxes (recall first:
// a face any of them finds is redacted).
type Union []interface {
	Detect(gocv.Mat) ([]Detection, error)
	Close() error
}

// Detect runs every member.
func (u Union) Detect(img gocv.Mat) ([]Detection, error) {
	var out []Detection
	for _, d := range u {
		got, err := d.Detect(img)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return DropContained(out, 0.9), nil
}

// Tiles sums the members' tile counts.
func (u Union) Tiles() TileStats {
	var s TileStats
	for _, d := range u {
		if t, ok := d.(interface{ Tiles() TileStats }); ok {
			s = s.Add(t.Tiles())
		}
	}
	return s
}

// Close closes every member.
func (u Union) Close() error {
	var first error
	for _, d := range u {
		if err := d.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Tiles counts the tiles run and reused so far.
func (u *UltraFace) Tiles() TileStats { return u.t.stats() }
