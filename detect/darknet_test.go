package detect

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/models"
)

// tinyDarknet is a one-convolution network with a [yolo] head: 3 input
// channels, 6 filters (one anchor, one class), and weights for it.
const tinyDarknet = "[net]\nwidth=32\nheight=32\n\n[convolutional]\nfilters=6\nsize=1\nstride=1\npad=1\nactivation=linear\n\n[yolo]\nmask=0\nanchors=4,8\nclasses=1\nnum=1\n"

// everyLayer is tinyDarknet with each other supported layer between the
// convolution and the head (weights: 24 + 24 + 36 floats).
var everyLayer = strings.Replace(tinyDarknet, "[yolo]", "[maxpool]\nsize=3\nstride=1\n\n[route]\nlayers=-1,-2\n\n[convolutional]\nfilters=6\nsize=1\ngroups=2\nbatch_normalize=1\nactivation=leaky\n\n[shortcut]\nfrom=0\nactivation=linear\n\n[upsample]\nstride=2\n\n[dropout]\n\n[yolo]", 1)

func tinyWeights(floats int) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, []int32{0, 2, 0})
	binary.Write(&b, binary.LittleEndian, int64(0))
	for i := range floats {
		binary.Write(&b, binary.LittleEndian, float32(i)/10)
	}
	return b.Bytes()
}

// TestDarknetONNX: the Yolo-Fastest files convert, with the two heads
// OpenCV finds; a weights file of another length, an unsupported layer and
// a head whose channels do not match are errors.
func TestDarknetONNX(t *testing.T) {
	st := models.Open(testenv.Models(t))
	cfg, weights := readModel(t, st, models.YoloCfg), readModel(t, st, models.YoloWeights)
	model, heads, err := darknetONNX(cfg, weights)
	if err != nil {
		t.Fatal(err)
	}
	if len(heads) != 2 || len(model) < len(weights)/2 {
		t.Fatalf("%d heads, a model of %d bytes", len(heads), len(model))
	}
	for _, h := range heads {
		if h.classes != 80 || len(h.anchors) != 3 {
			t.Errorf("head %s: %d classes, %d anchors", h.output, h.classes, len(h.anchors))
		}
	}
	if _, _, err := darknetONNX([]byte(tinyDarknet), tinyWeights(6+18)); err != nil {
		t.Fatalf("tiny network: %v", err)
	}
	if _, _, err := darknetONNX([]byte(everyLayer), tinyWeights(24+24+36)); err != nil {
		t.Fatalf("every layer: %v", err)
	}
	for name, tc := range map[string]struct {
		cfg     string
		weights []byte
	}{
		"weights short":     {string(cfg), weights[:len(weights)-4]},
		"weights long":      {string(cfg), append(weights[:len(weights):len(weights)], 0, 0, 0, 0)},
		"unknown layer":     {strings.Replace(tinyDarknet, "[yolo]", "[reorg]", 1), tinyWeights(24)},
		"head mismatch":     {strings.Replace(tinyDarknet, "classes=1", "classes=2", 1), tinyWeights(24)},
		"no net":            {strings.TrimPrefix(tinyDarknet, "[net]"), tinyWeights(24)},
		"huge filters":      {strings.Replace(tinyDarknet, "filters=6", "filters=99999999", 1), tinyWeights(24)},
		"bad activation":    {strings.Replace(tinyDarknet, "activation=linear", "activation=mish", 1), tinyWeights(24)},
		"route to itself":   {strings.Replace(tinyDarknet, "[yolo]", "[route]\nlayers=1\n\n[yolo]", 1), tinyWeights(24)},
		"dilation":          {strings.Replace(tinyDarknet, "size=1\n", "size=1\ndilation=2\n", 1), tinyWeights(24)},
		"shortcut, no from": {strings.Replace(tinyDarknet, "[yolo]", "[shortcut]\nactivation=linear\n\n[yolo]", 1), tinyWeights(24)},
		"scale_x_y":         {strings.Replace(tinyDarknet, "num=1", "num=1\nscale_x_y=1.05", 1), tinyWeights(24)},
	} {
		if _, _, err := darknetONNX([]byte(tc.cfg), tc.weights); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestYoloRegions: a raw map decodes as OpenCV's region layer does.
func TestYoloRegions(t *testing.T) {
	h := yoloHead{anchors: [][2]float32{{4, 8}}, classes: 2}
	// One anchor, 7 channels, a 1x2 grid: cell (x=1) confident, cell 0 not.
	raw := make([]float32, 7*2)
	set := func(ch, x int, v float32) { raw[ch*2+x] = v }
	set(4, 0, -5) // objectness 0.0067: no class may pass 0.2
	set(5, 0, 5)
	set(4, 1, 5) // 0.9933
	set(0, 1, 0) // centre x: (1 + 0.5) / 2
	set(1, 1, 0)
	set(2, 1, float32(math.Log(2))) // width: 2 * 4 / 32
	set(5, 1, 5)                    // class 0: 0.9933 * 0.9933
	set(6, 1, -5)                   // class 1: under 0.2
	got := h.regions(raw, 1, 2, 32, 16, nil)
	if len(got) != 2*7 {
		t.Fatalf("%d values, want 14", len(got))
	}
	near := func(a, b float32) bool { return math.Abs(float64(a-b)) < 1e-4 }
	c := got[7:]
	if !near(c[0], 0.75) || !near(c[1], 0.5) || !near(c[2], 0.25) || !near(c[3], 0.5) || !near(c[5], 0.9866) || c[6] != 0 {
		t.Errorf("confident cell: %v", c)
	}
	if got[5] != 0 || got[6] != 0 {
		t.Errorf("unconfident cell's classes %v, want zeros", got[5:7])
	}
}

// FuzzDarknetONNX: no cfg or weights file makes the converter panic or ask
// for memory the weights cannot fill.
func FuzzDarknetONNX(f *testing.F) {
	f.Add([]byte(tinyDarknet), tinyWeights(24))
	f.Add([]byte(everyLayer), tinyWeights(24+24+36))
	if b, err := os.ReadFile(filepath.Join(testenv.Models(f), filepath.FromSlash(models.YoloCfg))); err == nil {
		f.Add(b, tinyWeights(100))
	}
	f.Fuzz(func(t *testing.T, cfg, weights []byte) {
		model, heads, err := darknetONNX(cfg, weights)
		if err == nil && (len(model) == 0 || len(heads) == 0) {
			t.Fatalf("no error, but %d bytes of model and %d heads", len(model), len(heads))
		}
	})
}
