package detect

import (
	"fmt"
	"image"
	"math"
	"slices"

	"gocv.io/x/gocv"
)

// PPOCR is the PP-OCRv4 text detector (DB), used to find number plates as
// text. It finds all text, so it also redacts signs: acceptable, since a missed
// plate is a breach and a blurred sign is not.
type PPOCR struct {
	in        image.Point
	threshold float32 // probability map binarisation
	boxThresh float32 // mean probability a component needs to count
	minSide   int     // components thinner than this (input pixels) are noise
	t         *tiler
	regions   *regionMemo // reuse for DetectZoomed; nil when off
	smaller   []smallNet  // DetectZoomed's networks for regions that fit them, smallest first; none when off
	model     string      // the ONNX file, for the smaller networks loaded when needed
	dnn       DNN         // the engine the smaller networks run on too
	seen      []int32     // reused component labels
	stack     []int32
}

// PPOCRConfig sets up a PP-OCR detector.
type PPOCRConfig struct {
	Model     string
	Input     image.Point // multiple of 32; on OpenCV one Net per size (OpenCV 4.6 breaks on size changes)
	Threshold float32     // map threshold, PaddleOCR default 0.3
	BoxThresh float32     // mean score of a box, PaddleOCR default 0.6
	Passes    []Pass
	Reuse     Reuse // answer unchanged tiles from memory (off when zero)
	// SmallInput, when set, is a second input size for DetectZoomed's
	// regions that fit it once magnified, instead of padding them to
	// Input. A third sits between the two (midInput: half of Input's pixels
	// for 320 and 640) for regions a little too large for SmallInput. On
	// OpenCV each is a Net of its own (OpenCV 4.6 cannot change a Net's
	// size), loaded when a region first needs it; on ONNX Runtime they
	// share Input's session.
	SmallInput image.Point
	DNN        DNN // the inference engine (for the smaller networks too)
	// Merge (ONNX Runtime only: OpenCV 4.6 cannot change a Net's size)
	// looks at a pass's, or a magnified region's, tiles in one run through
	// an input shaped like the area, its sides rounded up to 32, when that
	// is fewer pixels than the tiles that would run. Measured
	// (bench/README.md): the same plates found or more, for 38-50 % less
	// CPU on a whole frame.
	Merge bool
}

// NewPPOCR loads the model.
func NewPPOCR(c PPOCRConfig) (*PPOCR, error) {
	if c.Input.X%32 != 0 || c.Input.Y%32 != 0 || c.Input.X <= 0 || c.Input.Y <= 0 {
		return nil, fmt.Errorf("ppocr: input %v must be a positive multiple of 32", c.Input)
	}
	if c.Merge && c.DNN != ONNXRuntime {
		return nil, fmt.Errorf("ppocr: merged tiles need ONNX Runtime, not %v", c.DNN)
	}
	net, err := loadNet("ppocr", c.Model, nil, c.DNN)
	if err != nil {
		return nil, err
	}
	return newPPOCR(c, net)
}

// newPPOCR is a PP-OCR detector on net, which it closes (net may be
// borrowed).
func newPPOCR(c PPOCRConfig, net network) (*PPOCR, error) {
	p := &PPOCR{in: c.Input, threshold: c.Threshold, boxThresh: c.BoxThresh, minSide: 2, model: c.Model, dnn: c.DNN}
	p.t = newTiler(p, net, c.Passes, c.Reuse)
	if c.Merge {
		p.t.anyInput = 32
	}
	if c.Reuse.Enabled() {
		p.regions = newRegionMemo(c.Reuse)
	}
	if c.SmallInput != (image.Point{}) {
		sizes := []image.Point{c.SmallInput}
		if m := midInput(c.SmallInput, c.Input); m != (image.Point{}) {
			sizes = append(sizes, m)
		}
		for _, in := range sizes {
			if in.X%32 != 0 || in.Y%32 != 0 || in.X <= 0 || in.Y <= 0 {
				p.Close()
				return nil, fmt.Errorf("ppocr: small input %v must be a positive multiple of 32", in)
			}
			p.smaller = append(p.smaller, smallNet{in: in})
		}
	}
	return p, nil
}

// smallNet is one of DetectZoomed's smaller networks, loaded when a region
// first needs it: on OpenCV each is a Net of its own that costs RSS once run
// (measured: 26 MB for 320x320, 52 for 448x448, 94 for 640x640), and a
// camera that never sees a vehicle of its size never pays it. On ONNX
// Runtime it borrows the large input's session, which takes any size.
type smallNet struct {
	in     image.Point
	p      *PPOCR // nil until loaded
	failed bool   // loading failed: regions go through the large input, as without it
}

// net loads the i-th smaller network if need be, and returns its tiler (nil
// if it cannot be loaded).
func (p *PPOCR) net(i int) *tiler {
	s := &p.smaller[i]
	if s.p == nil && !s.failed {
		c := PPOCRConfig{Model: p.model, Input: s.in, Threshold: p.threshold, BoxThresh: p.boxThresh, DNN: p.dnn}
		var n *PPOCR
		var err error
		if p.dnn == ONNXRuntime {
			// ONNX Runtime runs the large input's session at any size: no
			// second model to load, nor its memory.
			n, err = newPPOCR(c, borrowed{p.t.dnn})
		} else {
			n, err = NewPPOCR(c)
		}
		if err != nil {
			s.failed = true
			return nil
		}
		s.p = n
	}
	if s.p == nil {
		return nil
	}
	return s.p.t
}

// midInput is the input between small and large with about the geometric
// mean of their pixels (each side a multiple of 32), or zero when none fits
// strictly between them. For 320 and 640: 448, half of 640x640's pixels.
// Measured on a parked car in vtest.avi, a 96x64 region magnified 4x
// (384x256: too wide for 320): 157 ms of CPU through 640x640, 81 ms through
// 448x448 (one OpenCV thread), for about 52 MB of RSS once loaded and run
// (smallNet).
func midInput(small, large image.Point) image.Point {
	side := func(a, b int) int {
		return int(math.Round(math.Sqrt(float64(a)*float64(b))/32)) * 32
	}
	m := image.Pt(side(small.X, large.X), side(small.Y, large.Y))
	if m.X <= small.X || m.Y <= small.Y || m.X >= large.X || m.Y >= large.Y {
		return image.Point{}
	}
	return m
}

// Close frees the network.
func (p *PPOCR) Close() error {
	if p.regions != nil {
		p.regions.close()
	}
	for _, s := range p.smaller {
		if s.p != nil {
			s.p.Close()
		}
	}
	return p.t.close()
}

// Detect returns text boxes in img, merged along lines and unclipped.
func (p *PPOCR) Detect(img gocv.Mat) ([]Detection, error) {
	return p.DetectIn(img, image.Rect(0, 0, img.Cols(), img.Rows()))
}

// DetectIn looks only inside roi.
func (p *PPOCR) DetectIn(img gocv.Mat, roi image.Rectangle) ([]Detection, error) {
	d, err := p.t.detect(img, roi)
	if err != nil {
		return nil, err
	}
	d = MergeContained(NMS(d, 0.5), 0.8)
	return MergeTextLines(d, 1.0), nil
}

// DetectZoomed looks inside roi only, magnified by zoom and cut into at most
// maxTiles tiles: how a plate on a distant vehicle is read.
// With reuse on, a region unchanged since it was last searched at the same
// zoom is answered from memory.
func (p *PPOCR) DetectZoomed(img gocv.Mat, roi image.Rectangle, zoom float64, maxTiles int) ([]Detection, error) {
	if err := checkFrame(img); err != nil {
		return nil, err
	}
	roi = roi.Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
	if roi.Dx() < 2 || roi.Dy() < 2 {
		return nil, nil
	}
	pass := Pass{Zoom: zoom, MaxTiles: maxTiles, MaxFit: zoom}
	k := regionKey{frame: image.Pt(img.Cols(), img.Rows()), roi: roi, zoom: zoom, maxTiles: maxTiles}
	if p.regions != nil {
		scale := func(r image.Rectangle) float64 {
			if t := plan(r.Dx(), r.Dy(), p.in, pass); len(t) > 0 {
				return t[0].scale
			}
			return 0
		}
		input := func(r image.Rectangle) zoomedInput { return p.zoomedInput(r, pass) }
		// A remembered region that needs a larger input than k's own
		// answers k only from memory; searched, k's region (or one of its
		// input) costs less. One of k's input is the one settle would
		// choose under that bound too.
		if big := p.regions.settle(k, scale, nil); input(big.roi) == input(k.roi) {
			k = big
		} else {
			if d, ok := p.regions.get(img, big); ok {
				return slices.Clone(d), nil
			}
			k = p.regions.settle(k, scale, input)
		}
		roi = k.roi
		if d, ok := p.regions.get(img, k); ok {
			return slices.Clone(d), nil
		}
	}
	t := p.t
	if i := p.zoomedNet(roi, zoom); i >= 0 {
		if st := p.net(i); st != nil {
			t = st
		}
	}
	d, err := t.detectPasses(img, roi, []Pass{pass}, false)
	if err != nil {
		return nil, err
	}
	d = MergeTextLines(MergeContained(NMS(d, 0.5), 0.8), 1.0)
	if p.regions != nil {
		p.regions.put(k, d)
	}
	return d, nil
}

// zoomedNet is the index of the smaller network (p.smaller) a region
// searched at zoom goes through, the smallest it fits once magnified; -1:
// the large input.
func (p *PPOCR) zoomedNet(roi image.Rectangle, zoom float64) int {
	for i, s := range p.smaller {
		if zoom > 0 && math.Ceil(float64(roi.Dx())*zoom) <= float64(s.in.X) && math.Ceil(float64(roi.Dy())*zoom) <= float64(s.in.Y) {
			return i
		}
	}
	return -1
}

// zoomedInput is what a region searched in pass costs: the network it goes
// through (zoomedNet) and, through the large input, its tiles.
type zoomedInput struct{ net, tiles int }

func (p *PPOCR) zoomedInput(roi image.Rectangle, pass Pass) zoomedInput {
	if i := p.zoomedNet(roi, pass.Zoom); i >= 0 {
		return zoomedInput{i, 1}
	}
	return zoomedInput{-1, len(plan(roi.Dx(), roi.Dy(), p.in, pass))}
}

func (p *PPOCR) inputSize() image.Point { return p.in }

// ppocrBlob: (x/255 - mean) / std with ImageNet's mean and an averaged std,
// RGB order.
var ppocrBlob = blobSpec{scale: 1.0 / (255 * 0.226), mean: [3]float64{0.485 * 255, 0.456 * 255, 0.406 * 255}, swapRB: true}

func (p *PPOCR) infer(in gocv.Mat) ([]Detection, error) {
	size := image.Pt(in.Cols(), in.Rows())
	outs, err := p.t.dnn.forward(in, ppocrBlob)
	if err != nil {
		return nil, err
	}
	prob, err := values("map", outs[0].v, size.X*size.Y)
	if err != nil {
		return nil, err
	}
	return p.components(prob[:size.X*size.Y], size.X, size.Y), nil
}

// components labels 4-connected regions of prob > threshold and returns each
// region's bounding box grown by the DB unclip distance (area*1.5/perimeter).
func (p *PPOCR) components(prob []float32, w, h int) []Detection {
	if cap(p.seen) < w*h {
		p.seen = make([]int32, w*h)
	}
	seen := p.seen[:w*h]
	clear(seen)
	var dets []Detection
	label := int32(0)
	for start, v := range prob {
		if v <= p.threshold || seen[start] != 0 {
			continue
		}
		label++
		seen[start] = label
		stack := append(p.stack[:0], int32(start))
		minX, minY, maxX, maxY := w, h, -1, -1
		var sum float64
		var n int
		for len(stack) > 0 {
			i := int(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			x, y := i%w, i/w
			minX, maxX = min(minX, x), max(maxX, x)
			minY, maxY = min(minY, y), max(maxY, y)
			sum += float64(prob[i])
			n++
			for _, j := range [4]int{i - 1, i + 1, i - w, i + w} {
				if j < 0 || j >= len(prob) || seen[j] != 0 || prob[j] <= p.threshold {
					continue
				}
				if (j == i-1 && x == 0) || (j == i+1 && x == w-1) {
					continue
				}
				seen[j] = label
				stack = append(stack, int32(j))
			}
		}
		p.stack = stack
		bw, bh := maxX-minX+1, maxY-minY+1
		if min(bw, bh) < p.minSide {
			continue
		}
		score := float32(sum / float64(n))
		if score < p.boxThresh {
			continue
		}
		d := float64(bw*bh) * 1.5 / float64(2*(bw+bh))
		di := int(math.Ceil(d))
		dets = append(dets, Detection{
			Box:   image.Rect(minX-di, minY-di, maxX+1+di, maxY+1+di),
			Class: Plate,
			Score: score,
		})
	}
	return dets
}

// Tiles counts the tiles run and reused so far (a region searched inside a
// vehicle and answered from memory counts as one tile reused).
func (p *PPOCR) Tiles() TileStats {
	s := p.t.stats()
	if p.regions != nil {
		s.Reused += p.regions.reused
	}
	for _, sm := range p.smaller {
		if sm.p != nil {
			s = s.Add(sm.p.t.stats())
		}
	}
	return s
}
