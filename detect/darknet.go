package detect

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// darknetONNX turns a Darknet network (its .cfg and .weights) into an ONNX
// model, in memory, so that ONNX Runtime can run Yolo-Fastest: nothing is
// written to disk, and the files read are the ones the models store checked.
// The model's input is "data", 1x3xHxW with H and W free (multiples of 32),
// and its outputs are the raw maps under each [yolo] layer, decoded in Go
// as OpenCV's region layer decodes them (yoloHead). Batch normalisation is
// folded into the convolutions, as OpenCV does.
//
// Only what Yolo-Fastest 1.1 uses is supported: [convolutional] (grouped,
// batch-normalised, leaky or linear), [maxpool] at stride 1, [route]
// (concatenation), [shortcut] (linear), [upsample], [dropout] and [yolo].
// Anything else is an error, as is a weights file of another length.
func darknetONNX(cfg, weights []byte) ([]byte, []yoloHead, error) {
	secs, err := parseDarknetCfg(cfg)
	if err != nil {
		return nil, nil, err
	}
	if len(secs) < 2 || secs[0].kind != "net" && secs[0].kind != "network" {
		return nil, nil, fmt.Errorf("darknet: cfg does not start with [net]")
	}
	w := &weightReader{b: weights}
	major, minor := w.int32(), w.int32()
	w.int32() // revision
	if major*10+minor >= 2 && major < 1000 && minor < 1000 {
		w.skip(8) // images seen, 64-bit
	} else {
		w.skip(4)
	}
	g := &onnxGraph{}
	names := []string{}  // each layer's output tensor
	channels := []int{}  // and its channel count
	isYolo := []bool{}   // layers no other may take from
	c, name := 3, "data" // the previous layer's
	var heads []yoloHead
	for i, s := range secs[1:] {
		if err := s.only(); err != nil {
			return nil, nil, fmt.Errorf("darknet: layer %d: %w", i, err)
		}
		ref := func(v int) (int, error) {
			if v < 0 {
				v += i
			}
			if v < 0 || v >= i || isYolo[v] {
				return 0, fmt.Errorf("darknet: layer %d [%s] refers to layer %d", i, s.kind, v)
			}
			return v, nil
		}
		out := fmt.Sprintf("l%d", i)
		yolo := false
		switch s.kind {
		case "convolutional":
			filters, size, stride := s.int("filters", 1), s.int("size", 1), s.int("stride", 1)
			groups, bn := s.int("groups", 1), s.int("batch_normalize", 0) == 1
			pad := s.int("padding", 0)
			if s.int("pad", 0) != 0 {
				pad = size / 2
			}
			if c > 1<<20 || filters < 1 || filters > maxDarknetDim || size < 1 || size > 15 || stride < 1 || stride > 8 || pad < 0 || pad > size ||
				groups < 1 || c%groups != 0 || filters%groups != 0 {
				return nil, nil, fmt.Errorf("darknet: layer %d: convolution of %d channels, %d filters, size %d, stride %d, padding %d, groups %d", i, c, filters, size, stride, pad, groups)
			}
			per := c / groups * size * size
			nbn := 0
			if bn {
				nbn = 3
			}
			if need := 4 * (filters*(1+nbn) + filters*per); need > len(w.b) {
				return nil, nil, fmt.Errorf("darknet: layer %d: weights end early: %d bytes wanted, %d left", i, need, len(w.b))
			}
			bias := w.floats(filters)
			scale := make([]float32, filters)
			for j := range scale {
				scale[j] = 1
			}
			if bn {
				gamma, mean, variance := w.floats(filters), w.floats(filters), w.floats(filters)
				for j := range filters {
					scale[j] = gamma[j] / float32(math.Sqrt(float64(variance[j])+1e-6))
					bias[j] -= mean[j] * scale[j]
				}
			}
			kernel := w.floats(filters * per)
			for j := range filters {
				for k := range per {
					kernel[j*per+k] *= scale[j]
				}
			}
			if w.err != nil {
				return nil, nil, fmt.Errorf("darknet: layer %d: %w", i, w.err)
			}
			g.initializer(out+"_w", []int64{int64(filters), int64(c / groups), int64(size), int64(size)}, kernel)
			g.initializer(out+"_b", []int64{int64(filters)}, bias)
			conv := out
			act := s.str("activation", "logistic")
			if act != "linear" {
				conv = out + "_conv"
			}
			g.node("Conv", []string{name, out + "_w", out + "_b"}, conv,
				intsAttr("kernel_shape", size, size), intsAttr("strides", stride, stride), intsAttr("pads", pad, pad, pad, pad), intAttr("group", groups))
			switch act {
			case "linear":
			case "leaky":
				g.node("LeakyRelu", []string{conv}, out, floatAttr("alpha", 0.1))
			default:
				return nil, nil, fmt.Errorf("darknet: layer %d: activation %q not supported", i, act)
			}
			c = filters
		case "maxpool":
			size := s.int("size", 1)
			if s.int("stride", 1) != 1 || size < 1 || size > 31 || size%2 == 0 || s.int("padding", size-1) != size-1 {
				return nil, nil, fmt.Errorf("darknet: layer %d: only odd-sized max pools at stride 1 are supported", i)
			}
			p := (size - 1) / 2
			g.node("MaxPool", []string{name}, out, intsAttr("kernel_shape", size, size), intsAttr("strides", 1, 1), intsAttr("pads", p, p, p, p))
		case "route":
			if s.has("groups") {
				return nil, nil, fmt.Errorf("darknet: layer %d: grouped routes are not supported", i)
			}
			var ins []string
			c = 0
			for _, f := range strings.Split(s.str("layers", ""), ",") {
				v, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil {
					return nil, nil, fmt.Errorf("darknet: layer %d: layers %q", i, s.str("layers", ""))
				}
				if v, err = ref(v); err != nil {
					return nil, nil, err
				}
				ins = append(ins, names[v])
				c += channels[v]
			}
			if len(ins) == 1 {
				out = ins[0]
			} else {
				g.node("Concat", ins, out, intAttr("axis", 1))
			}
		case "shortcut":
			if !s.has("from") {
				return nil, nil, fmt.Errorf("darknet: layer %d: shortcut without from", i)
			}
			from, err := ref(s.int("from", 0))
			if err != nil {
				return nil, nil, err
			}
			if s.str("activation", "linear") != "linear" || channels[from] != c {
				return nil, nil, fmt.Errorf("darknet: layer %d: only linear shortcuts of equal channels are supported", i)
			}
			g.node("Add", []string{name, names[from]}, out)
		case "upsample":
			st := s.int("stride", 2)
			if st < 1 || st > 8 {
				return nil, nil, fmt.Errorf("darknet: layer %d: upsample stride %d", i, st)
			}
			g.initializer(out+"_scales", []int64{4}, []float32{1, 1, float32(st), float32(st)})
			g.node("Resize", []string{name, "", out + "_scales"}, out,
				stringAttr("mode", "nearest"), stringAttr("coordinate_transformation_mode", "asymmetric"), stringAttr("nearest_mode", "floor"))
		case "dropout":
			out = name
		case "yolo":
			h, err := newYoloHead(s, c)
			if err != nil {
				return nil, nil, fmt.Errorf("darknet: layer %d: %w", i, err)
			}
			h.output = name
			heads = append(heads, h)
			g.outputs = append(g.outputs, name)
			out, yolo = name, true
		default:
			return nil, nil, fmt.Errorf("darknet: layer %d: [%s] not supported", i, s.kind)
		}
		names, channels, isYolo = append(names, out), append(channels, c), append(isYolo, yolo)
		name = out
	}
	if w.err != nil {
		return nil, nil, fmt.Errorf("darknet: weights: %w", w.err)
	}
	if len(w.b) != 0 {
		return nil, nil, fmt.Errorf("darknet: weights: %d bytes left over: the file is not this cfg's", len(w.b))
	}
	if len(heads) == 0 {
		return nil, nil, fmt.Errorf("darknet: no [yolo] layer")
	}
	return g.model(), heads, nil
}

// maxDarknetDim bounds a cfg's filter and class counts, so that no product
// of them overflows or asks for more memory than a weights file can fill.
const maxDarknetDim = 1 << 14

// yoloHead is one [yolo] layer: the model output it reads, the anchors (in
// input pixels) of its boxes and the classes each scores.
type yoloHead struct {
	output  string
	anchors [][2]float32
	classes int
}

func newYoloHead(s darknetSection, c int) (yoloHead, error) {
	var all []float32
	for _, f := range strings.Split(s.str("anchors", ""), ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 32)
		if err != nil {
			return yoloHead{}, fmt.Errorf("anchors %q", s.str("anchors", ""))
		}
		all = append(all, float32(v))
	}
	h := yoloHead{classes: s.int("classes", 0)}
	for _, f := range strings.Split(s.str("mask", ""), ",") {
		m, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || m < 0 || 2*m+1 >= len(all) {
			return yoloHead{}, fmt.Errorf("mask %q", s.str("mask", ""))
		}
		h.anchors = append(h.anchors, [2]float32{all[2*m], all[2*m+1]})
	}
	if sxy, err := strconv.ParseFloat(s.str("scale_x_y", "1"), 64); err != nil || sxy != 1 {
		return yoloHead{}, fmt.Errorf("scale_x_y %s: only 1 is supported", s.str("scale_x_y", "1"))
	}
	if h.classes < 1 || h.classes > maxDarknetDim || c != len(h.anchors)*(5+h.classes) {
		return yoloHead{}, fmt.Errorf("%d channels for %d anchors of %d classes", c, len(h.anchors), h.classes)
	}
	return h, nil
}

// regions writes a head's raw map (1 x anchors*(5+classes) x rows x cols,
// for an in.X x in.Y input) as OpenCV's region layer does: one row per
// cell and anchor, (y*cols+x)*anchors+a, holding the box's centre and size
// as shares of the input, its objectness, and each class's score times the
// objectness, zero when not above 0.2 (the layer's threshold).
func (h yoloHead) regions(raw []float32, rows, cols, inW, inH int, dst []float32) []float32 {
	na, cell, plane := len(h.anchors), 5+h.classes, rows*cols
	dst = dst[:0]
	for y := range rows {
		for x := range cols {
			for a := range na {
				src := raw[a*cell*plane+y*cols+x:]
				at := func(k int) float32 { return src[k*plane] }
				obj := sigmoid(at(4))
				dst = append(dst,
					(float32(x)+sigmoid(at(0)))/float32(cols),
					(float32(y)+sigmoid(at(1)))/float32(rows),
					float32(math.Exp(float64(at(2))))*h.anchors[a][0]/float32(inW),
					float32(math.Exp(float64(at(3))))*h.anchors[a][1]/float32(inH),
					obj)
				n := len(dst)
				dst = slices.Grow(dst, h.classes)[:n+h.classes]
				if obj <= 0.2 { // no class can score above it
					clear(dst[n:])
					continue
				}
				for k := range h.classes {
					p := obj * sigmoid(at(5+k))
					if p <= 0.2 {
						p = 0
					}
					dst[n+k] = p
				}
			}
		}
	}
	return dst
}

func sigmoid(v float32) float32 { return 1 / (1 + float32(math.Exp(-float64(v)))) }

// darknetSection is one [kind] of a cfg with its key=value settings.
type darknetSection struct {
	kind string
	kv   map[string]string
}

func (s darknetSection) has(k string) bool { _, ok := s.kv[k]; return ok }

func (s darknetSection) str(k, def string) string {
	if v, ok := s.kv[k]; ok {
		return v
	}
	return def
}

// int is k's value as an integer (def when k is not set). A value that is
// not one reads as math.MinInt32, which every caller rejects (out of range,
// or a layer reference before the first).
func (s darknetSection) int(k string, def int) int {
	v, err := strconv.Atoi(s.str(k, strconv.Itoa(def)))
	if err != nil {
		return math.MinInt32
	}
	return v
}

// darknetKeys are the settings each supported section may have: anything
// else (dilation, stride_x, an upsample's scale, new_coords...) would change
// the network in a way the conversion does not follow, so it is an error.
// Training-only settings are listed to be ignored.
var darknetKeys = map[string][]string{
	"convolutional": {"filters", "size", "stride", "pad", "padding", "groups", "batch_normalize", "activation"},
	"maxpool":       {"size", "stride", "padding"},
	"route":         {"layers"},
	"shortcut":      {"from", "activation"},
	"upsample":      {"stride"},
	"dropout":       {"probability"},
	"yolo": {"mask", "anchors", "classes", "num", "scale_x_y", "jitter", "ignore_thresh", "truth_thresh", "random",
		"iou_thresh", "cls_normalizer", "iou_normalizer", "iou_loss", "nms_kind", "beta_nms", "max_delta", "resize", "counters_per_class", "label_smooth_eps", "objectness_smooth"},
}

// only reports a setting the section's kind does not support (an unknown
// kind is reported by darknetONNX).
func (s darknetSection) only() error {
	keys, ok := darknetKeys[s.kind]
	if !ok {
		return nil
	}
	for k := range s.kv {
		if !slices.Contains(keys, k) {
			return fmt.Errorf("[%s] %s=%s not supported", s.kind, k, s.kv[k])
		}
	}
	return nil
}

func parseDarknetCfg(b []byte) ([]darknetSection, error) {
	var secs []darknetSection
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("darknet: cfg line %d: %q", n, line)
			}
			secs = append(secs, darknetSection{kind: strings.TrimSpace(line[1 : len(line)-1]), kv: map[string]string{}})
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || len(secs) == 0 {
			return nil, fmt.Errorf("darknet: cfg line %d: %q", n, line)
		}
		secs[len(secs)-1].kv[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return secs, sc.Err()
}

// weightReader reads little-endian values, remembering the first short read.
type weightReader struct {
	b   []byte
	err error
}

func (r *weightReader) skip(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		if r.err == nil {
			r.err = fmt.Errorf("file ends early: %d bytes wanted, %d left", n, len(r.b))
		}
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *weightReader) int32() int {
	b := r.skip(4)
	if b == nil {
		return 0
	}
	return int(int32(binary.LittleEndian.Uint32(b)))
}

func (r *weightReader) floats(n int) []float32 {
	out := make([]float32, max(n, 0))
	b := r.skip(4 * n)
	for i := range out {
		if b != nil {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	}
	return out
}
