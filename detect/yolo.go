package detect

import (
	"fmt"
	"image"
	"math"

	"gocv.io/x/gocv"
)

// Yolo is Yolo-Fastest 1.1 (COCO, Darknet) used for people and vehicles:
// counting, and finding plates inside vehicles.
type Yolo struct {
	in        image.Point
	threshold float32
	outNames  []string
	t         *tiler
}

// YoloConfig sets up a Yolo-Fastest detector.
type YoloConfig struct {
	Cfg, Weights string
	Input        image.Point // 320x320 is the model's native size
	Threshold    float32     // objectness x class score
	Passes       []Pass
	Reuse        Reuse // answer unchanged tiles from memory (off when zero)
}

// cocoClasses maps the COCO ids Veil cares about.
var cocoClasses = map[int]Class{0: Person, 1: Bicycle, 2: Car, 3: Motorbike, 5: Bus, 7: Truck}

// NewYolo loads the network.
func NewYolo(c YoloConfig) (*Yolo, error) {
	if c.Input.X%32 != 0 || c.Input.Y%32 != 0 || c.Input.X <= 0 || c.Input.Y <= 0 {
		return nil, fmt.Errorf("yolo: input %v must be a positive multiple of 32", c.Input)
	}
	for _, p := range []string{c.Cfg, c.Weights} {
		if err := checkModelFile(p); err != nil {
			return nil, err
		}
	}
	net := gocv.ReadNet(c.Weights, c.Cfg) // Darknet, chosen by the file extensions
	if net.Empty() {
		return nil, fmt.Errorf("yolo: OpenCV could not load %s", c.Weights)
	}
	names := net.GetLayerNames()
	var outs []string
	for _, id := range net.GetUnconnectedOutLayers() {
		if id-1 >= 0 && id-1 < len(names) {
			outs = append(outs, names[id-1])
		}
	}
	if len(outs) == 0 {
		net.Close()
		return nil, fmt.Errorf("yolo: %s has no output layers", c.Cfg)
	}
	y := &Yolo{in: c.Input, threshold: c.Threshold, outNames: outs}
	y.t = newTiler(y, net, c.Passes, c.Reuse)
	return y, nil
}

// Close frees the network.
func (y *Yolo) Close() error {
	return y.t.close()
}

// Detect returns people and vehicles in img.
func (y *Yolo) Detect(img gocv.Mat) ([]Detection, error) {
	d, err := y.t.detect(img, image.Rect(0, 0, img.Cols(), img.Rows()))
	if err != nil {
		return nil, err
	}
	return NMS(d, 0.45), nil
}

// DetectWhole looks at the whole frame once, at the network's input size:
// the cheap look (one network run) counting takes between full detections.
// Nothing is reused or remembered.
func (y *Yolo) DetectWhole(img gocv.Mat) ([]Detection, error) {
	d, err := y.t.detectPasses(img, image.Rect(0, 0, img.Cols(), img.Rows()), []Pass{{}}, false)
	if err != nil {
		return nil, err
	}
	return NMS(d, 0.45), nil
}

func (y *Yolo) inputSize() image.Point { return y.in }

func (y *Yolo) infer(in gocv.Mat) ([]Detection, error) {
	blob := gocv.BlobFromImage(in, 1.0/255, y.in, gocv.NewScalar(0, 0, 0, 0), true, false)
	defer blob.Close()
	y.t.dnn.SetInput(blob, "")
	outs := y.t.dnn.ForwardLayers(y.outNames)
	defer func() {
		for i := range outs {
			outs[i].Close()
		}
	}()
	W, H := float64(y.in.X), float64(y.in.Y)
	var dets []Detection
	for _, o := range outs {
		cols := o.Cols()
		if o.Rows() == 0 || cols < 5+8 {
			continue
		}
		data, err := floatData(o, o.Rows()*cols)
		if err != nil {
			return nil, err
		}
		for r := 0; r < o.Rows(); r++ {
			row := data[r*cols : (r+1)*cols]
			obj := row[4]
			if obj < y.threshold {
				continue
			}
			best, bestScore := -1, float32(0)
			for id := range cocoClasses {
				if 5+id < cols && row[5+id] > bestScore {
					best, bestScore = id, row[5+id]
				}
			}
			// OpenCV's region layer already multiplies class scores by objectness.
			if best < 0 || bestScore < y.threshold {
				continue
			}
			cx, cy, w, h := float64(row[0])*W, float64(row[1])*H, float64(row[2])*W, float64(row[3])*H
			dets = append(dets, Detection{
				Box:   image.Rect(int(cx-w/2), int(cy-h/2), int(math.Ceil(cx+w/2)), int(math.Ceil(cy+h/2))),
				Class: cocoClasses[best],
				Score: bestScore,
			})
		}
	}
	return dets, nil
}

// Tiles counts the tiles run and reused so far.
func (y *Yolo) Tiles() TileStats { return y.t.stats() }
