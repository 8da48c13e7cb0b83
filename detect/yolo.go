package detect

import (
	"fmt"
	"image"
	"math"
	"os"

	"gocv.io/x/gocv"
)

// Yolo is Yolo-Fastest 1.1 (COCO, Darknet) used for people and vehicles:
// counting, and finding plates inside vehicles.
type Yolo struct {
	in        image.Point
	threshold float32
	t         *tiler
	cfg       YoloConfig
	whole     *Yolo       // DetectWhole's network, shaped like the frame; nil until needed or when Input already is
	wholeBad  image.Point // a shape whose network failed to load: DetectWhole uses the square input for it
	wholeRun  int         // tiles run by shaped networks since replaced
	heads     []yoloHead  // on ONNX Runtime: the raw maps' [yolo] layers, decoded in Go
	rows      [][]float32 // their region rows, one buffer a head, reused
}

// YoloConfig sets up a Yolo-Fastest detector.
type YoloConfig struct {
	Cfg, Weights string
	Input        image.Point // 320x320 is the model's native size
	Threshold    float32     // objectness x class score
	Passes       []Pass
	Reuse        Reuse // answer unchanged tiles from memory (off when zero)
	// DNN: on ONNX Runtime the Darknet files are turned into an ONNX model
	// in memory (darknetONNX).
	DNN DNN
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
	var net network
	var heads []yoloHead
	switch c.DNN {
	case ONNXRuntime:
		cfg, err := os.ReadFile(c.Cfg)
		if err != nil {
			return nil, err
		}
		weights, err := os.ReadFile(c.Weights)
		if err != nil {
			return nil, err
		}
		model, hs, err := darknetONNX(cfg, weights)
		if err != nil {
			return nil, fmt.Errorf("yolo: %s: %w", c.Cfg, err)
		}
		outs := make([]string, len(hs))
		for i, h := range hs {
			outs[i] = h.output
		}
		if net, err = newORTNetData(model, outs); err != nil {
			return nil, fmt.Errorf("yolo: %w", err)
		}
		heads = hs
	default:
		cv := gocv.ReadNet(c.Weights, c.Cfg) // Darknet, chosen by the file extensions
		if cv.Empty() {
			cv.Close()
			return nil, fmt.Errorf("yolo: OpenCV could not load %s", c.Weights)
		}
		names := cv.GetLayerNames()
		var outs []string
		for _, id := range cv.GetUnconnectedOutLayers() {
			if id-1 >= 0 && id-1 < len(names) {
				outs = append(outs, names[id-1])
			}
		}
		if len(outs) == 0 {
			cv.Close()
			return nil, fmt.Errorf("yolo: %s has no output layers", c.Cfg)
		}
		net = newCVNet(cv, outs)
	}
	return newYolo(c, net, heads), nil
}

// newYolo is a Yolo-Fastest detector on net, which it closes (net may be
// borrowed); heads are net's raw [yolo] maps to decode (none: net gives
// OpenCV's region rows).
func newYolo(c YoloConfig, net network, heads []yoloHead) *Yolo {
	y := &Yolo{in: c.Input, threshold: c.Threshold, cfg: c, heads: heads, rows: make([][]float32, len(heads))}
	y.t = newTiler(y, net, c.Passes, c.Reuse)
	return y
}

// Close frees the network.
func (y *Yolo) Close() error {
	if y.whole != nil {
		y.whole.Close()
	}
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

// DetectWhole looks at the whole frame once, at the network's input scale:
// the cheap look (one network run) counting takes between full detections.
// Nothing is reused or remembered. The input is cut to the frame's shape
// (wholeInput): a 4:3 frame fills 320x240 of a 320x320 input, a 16:9 one
// 320x180, and the rows of padding below cost as much as the frame's own.
// On OpenCV that network is made on the first look (OpenCV 4.6 needs one
// Net per input size) and again when the frame's shape changes; should it
// fail to load, the look goes through the square input, as it did before.
// On ONNX Runtime it borrows y's session, which takes any size.
func (y *Yolo) DetectWhole(img gocv.Mat) ([]Detection, error) {
	if err := checkFrame(img); err != nil {
		return nil, err
	}
	n := y
	if in := wholeInput(img.Cols(), img.Rows(), y.in); in != y.in && in != y.wholeBad {
		if y.whole == nil || y.whole.in != in {
			if y.whole != nil {
				y.wholeRun += y.whole.t.run
				y.whole.Close()
				y.whole = nil
			}
			c := y.cfg
			c.Input, c.Passes, c.Reuse = in, nil, Reuse{}
			if y.heads != nil {
				y.whole = newYolo(c, borrowed{y.t.dnn}, y.heads)
			} else if w, err := NewYolo(c); err == nil {
				y.whole = w
			} else {
				y.wholeBad = in
			}
		}
		if y.whole != nil {
			n = y.whole
		}
	}
	d, err := n.t.detectPasses(img, image.Rect(0, 0, img.Cols(), img.Rows()), []Pass{{}}, false)
	if err != nil {
		return nil, err
	}
	return NMS(d, 0.45), nil
}

// wholeInput is the input a w x h frame fits at in's scale: in's width and
// height cut to the frame's scaled sides, rounded up to multiples of 32 (as
// Yolo's strides need).
func wholeInput(w, h int, in image.Point) image.Point {
	s := min(float64(in.X)/float64(w), float64(in.Y)/float64(h))
	up := func(v float64, limit int) int {
		return min(limit, max(32, int(math.Ceil(math.Round(v)/32))*32))
	}
	return image.Pt(up(float64(w)*s, in.X), up(float64(h)*s, in.Y))
}

func (y *Yolo) inputSize() image.Point { return y.in }

func (y *Yolo) infer(in gocv.Mat) ([]Detection, error) {
	outs, err := y.t.dnn.forward(in, blobSpec{scale: 1.0 / 255, swapRB: true})
	if err != nil {
		return nil, err
	}
	if y.heads != nil { // raw maps: into the region rows OpenCV gives
		if len(outs) != len(y.heads) {
			return nil, fmt.Errorf("yolo: %d outputs for %d heads", len(outs), len(y.heads))
		}
		for i, h := range y.heads {
			o := outs[i]
			if len(o.dims) != 4 || o.dims[1] != len(h.anchors)*(5+h.classes) || len(o.v) != o.dims[1]*o.dims[2]*o.dims[3] {
				return nil, fmt.Errorf("yolo: output %s is %v", h.output, o.dims)
			}
			y.rows[i] = h.regions(o.v, o.dims[2], o.dims[3], y.in.X, y.in.Y, y.rows[i])
			outs[i] = tensor{y.rows[i], []int{o.dims[2] * o.dims[3] * len(h.anchors), 5 + h.classes}}
		}
	}
	W, H := float64(y.in.X), float64(y.in.Y)
	var dets []Detection
	for _, o := range outs {
		if len(o.dims) != 2 || o.dims[0] == 0 || o.dims[1] < 5+8 {
			continue
		}
		rows, cols := o.dims[0], o.dims[1]
		data, err := values("region", o.v, rows*cols)
		if err != nil {
			return nil, err
		}
		for r := 0; r < rows; r++ {
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

// Tiles counts the tiles run and reused so far, light looks included.
func (y *Yolo) Tiles() TileStats {
	s := y.t.stats()
	s.Run += y.wholeRun
	if y.whole != nil {
		s.Run += y.whole.t.run
	}
	return s
}
