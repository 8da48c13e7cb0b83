package detect

import (
	"bytes"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/models"
)

// foldGraph is a small model with each of foldONNX's patterns once, as
// Paddle's exporter writes them (constants first in Mul), and one it must
// leave alone: an affine read by a padded 3x3 Conv. Input "data"
// (1x3xHxW), output "out".
func foldGraph(outputs ...string) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	w := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64()) * 0.3
		}
		return v
	}
	var g onnxGraph
	scalar := func(name string, v float32) { g.initializer(name, nil, []float32{v}) }
	g.initializer("w1", []int64{8, 3, 3, 3}, w(8*27))
	g.initializer("b1", []int64{8}, w(8))
	scalar("s1", 0.9)
	scalar("d1", 0.5)
	scalar("three", 3)
	scalar("zero", 0)
	scalar("six", 6)
	scalar("s2", 0.6)
	scalar("d2", -0.4)
	g.initializer("w2", []int64{8, 8, 1, 1}, w(64))
	g.initializer("b2", []int64{8}, w(8))
	g.initializer("wg", []int64{8, 8, 1, 1}, w(64))
	scalar("s3", 1.2)
	scalar("d3", 0.3)
	g.initializer("w3", []int64{4, 8, 3, 3}, w(4*72))
	pads := intsAttr("pads", 1, 1, 1, 1)
	// conv: Conv → Mul(c, ·) → Add(·, d)
	g.node("Conv", []string{"data", "w1", "b1"}, "c1", intsAttr("kernel_shape", 3, 3), pads)
	g.node("Mul", []string{"s1", "c1"}, "m1")
	g.node("Add", []string{"m1", "d1"}, "a1")
	// hswish
	g.node("Add", []string{"a1", "three"}, "h1")
	g.node("Clip", []string{"h1", "zero", "six"}, "h2")
	g.node("Mul", []string{"a1", "h2"}, "h3")
	g.node("Div", []string{"h3", "six"}, "h4")
	// affine read by a 1x1 Conv
	g.node("Mul", []string{"h4", "s2"}, "m2") // the constant second, as other exporters write it
	g.node("Add", []string{"m2", "d2"}, "a2")
	g.node("Conv", []string{"a2", "w2", "b2"}, "c2", intsAttr("kernel_shape", 1, 1))
	// gate: c2 + c2 * g
	g.node("GlobalAveragePool", []string{"c2"}, "p")
	g.node("Conv", []string{"p", "wg"}, "q", intsAttr("kernel_shape", 1, 1))
	g.node("HardSigmoid", []string{"q"}, "g", floatAttr("alpha", 0.2), floatAttr("beta", 0.5))
	g.node("Mul", []string{"c2", "g"}, "r")
	g.node("Add", []string{"c2", "r"}, "e")
	// affine read by a padded Conv: kept
	g.node("Mul", []string{"s3", "e"}, "m3")
	g.node("Add", []string{"m3", "d3"}, "a3")
	g.node("Conv", []string{"a3", "w3"}, "out", intsAttr("kernel_shape", 3, 3), pads)
	g.outputs = append([]string{"out"}, outputs...)
	return g.model()
}

// validGraph checks what ONNX Runtime needs of a graph: every node input is
// a graph input, a constant or an earlier node's output; every tensor is
// written once; every graph output is written.
func validGraph(m *onnxModel) error {
	have := map[string]bool{"": true} // "": an optional input left out
	for name := range m.inputs {
		have[name] = true
	}
	for _, c := range m.inits {
		have[c.name] = true
	}
	for _, n := range m.nodes {
		for _, in := range n.in {
			if !have[in] {
				return fmt.Errorf("%s node reads %q before anything writes it", n.op, in)
			}
		}
		for _, out := range n.out {
			if have[out] && out != "" {
				return fmt.Errorf("%q is written twice", out)
			}
			have[out] = true
		}
	}
	for out := range m.outputs {
		if !have[out] {
			return fmt.Errorf("graph output %q is not written", out)
		}
	}
	return nil
}

// readModel is the named file of the models store.
func readModel(t testing.TB, st *models.Store, name string) []byte {
	t.Helper()
	p, err := st.Path(name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ortOrSkip loads ONNX Runtime from the models directory, or skips.
func ortOrSkip(t testing.TB) *models.Store {
	t.Helper()
	st := models.Open(testenv.Models(t))
	lib := models.ONNXRuntimeLib(runtime.GOARCH)
	if lib == "" {
		t.Skipf("no ONNX Runtime for %s", runtime.GOARCH)
	}
	p, err := st.Path(lib)
	if err != nil {
		t.Fatal(err)
	}
	if err := LoadONNXRuntime(p); err != nil {
		t.Fatal(err)
	}
	return st
}

// runBoth runs model and its fold on img, and returns the largest
// difference between their first outputs and the first output's size.
func runBoth(t *testing.T, model, folded []byte, img gocv.Mat, spec blobSpec) (float64, int) {
	t.Helper()
	var outs [2][]float32
	for i, m := range [][]byte{model, folded} {
		n, err := newORTNetData(m, nil)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := n.forward(img, spec)
		if err != nil {
			t.Fatal(err)
		}
		outs[i] = append([]float32(nil), ts[0].v...)
		n.close()
	}
	if len(outs[0]) != len(outs[1]) {
		t.Fatalf("outputs of %d and %d values", len(outs[0]), len(outs[1]))
	}
	worst := 0.0
	for i := range outs[0] {
		worst = max(worst, math.Abs(float64(outs[0][i]-outs[1][i])))
	}
	return worst, len(outs[0])
}

// TestFoldONNX: each rewrite is made where its pattern is, and only there
// (not past a padded Conv, not where a folded tensor is a graph output);
// the folded model gives the same output on ONNX Runtime; what is left
// unread is gone.
func TestFoldONNX(t *testing.T) {
	for _, c := range []struct {
		name    string
		outputs []string
		want    foldCounts
	}{
		{"every pattern", nil, foldCounts{Conv: 1, HSwish: 1, Affine: 1, Gate: 1}},
		// A graph output inside each pattern stops it.
		{"outputs inside", []string{"m1", "h2", "m2", "r"}, foldCounts{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			model := foldGraph(c.outputs...)
			folded, got, err := foldONNX(model)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("folds %v, want %v", got, c.want)
			}
			if got == (foldCounts{}) {
				if !bytes.Equal(folded, model) {
					t.Error("nothing folded, but the model changed")
				}
				return
			}
			m, err := parseModel(folded)
			if err != nil {
				t.Fatal(err)
			}
			ops := map[string]int{}
			for _, n := range m.nodes {
				ops[n.op]++
			}
			// Left: 4 Convs, HardSigmoid x2, GAP, Mul x2 (hswish, gate) and
			// Add (gate's g+1), and the padded Conv's Mul and Add.
			if want := map[string]int{"Conv": 4, "HardSigmoid": 2, "GlobalAveragePool": 1, "Mul": 3, "Add": 2}; fmt.Sprint(ops) != fmt.Sprint(want) {
				t.Errorf("ops %v, want %v", ops, want)
			}
			for _, dropped := range []string{"s1", "d1", "three", "zero", "six", "s2", "d2", "w1", "b1", "w2", "b2"} {
				for _, c := range m.inits {
					if c.name == dropped {
						t.Errorf("constant %s is still there, read by nothing", dropped)
					}
				}
			}
			if err := validGraph(m); err != nil {
				t.Fatal(err)
			}
			ortOrSkip(t)
			img := gocv.NewMatWithSize(24, 32, gocv.MatTypeCV8UC3)
			defer img.Close()
			gocv.RandU(&img, gocv.NewScalar(0, 0, 0, 0), gocv.NewScalar(255, 255, 255, 0))
			worst, n := runBoth(t, model, folded, img, blobSpec{scale: 1.0 / 255})
			if n != 4*24*32 || worst > 1e-4 {
				t.Errorf("%d values, largest difference %g", n, worst)
			}
		})
	}
}

// TestFoldONNXSubgraphs: a model with a subgraph (If, Loop, Scan), which may
// read any tensor, is left as it is, its patterns too.
func TestFoldONNXSubgraphs(t *testing.T) {
	var g onnxGraph
	g.initializer("w", []int64{4, 3, 1, 1}, make([]float32, 12))
	g.initializer("c", nil, []float32{2})
	g.initializer("d", nil, []float32{1})
	g.node("Conv", []string{"data", "w"}, "x", intsAttr("kernel_shape", 1, 1))
	g.node("Mul", []string{"c", "x"}, "y")
	g.node("Add", []string{"y", "d"}, "z")
	g.node("ReduceMax", []string{"z"}, "cond")
	var branch pbuf
	branch.str(2, "then") // a GraphProto: only its name
	g.node("If", []string{"cond"}, "out", attr("then_branch", 5 /* GRAPH */, func(a *pbuf) { a.bytes(6, branch) }))
	g.outputs = []string{"out"}
	model := g.model()
	out, got, err := foldONNX(model)
	if err != nil || got != (foldCounts{}) || !bytes.Equal(out, model) {
		t.Errorf("folds %v, error %v, unchanged %v; want the model as it was", got, err, bytes.Equal(out, model))
	}
}

// TestFoldONNXModels: PP-OCRv4's detector folds (28 Convs, 24 hard-swishes,
// 10 affines into 1x1 Convs, 8 gates) and gives the same probability map on
// real plates at the sizes Veil runs it (a plate search's 320 and 448, a
// vtest frame's 768x576, a 720p frame's 1280x736), within 1e-4; YuNet,
// UltraFace and darknetONNX's Yolo-Fastest have none of the patterns and
// come back as they were.
func TestFoldONNXModels(t *testing.T) {
	st := ortOrSkip(t)
	read := func(name string) []byte { return readModel(t, st, name) }
	model := read(models.PPOCRDetORT)
	folded, got, err := foldONNX(model)
	if err != nil {
		t.Fatal(err)
	}
	if want := (foldCounts{Conv: 28, HSwish: 24, Affine: 10, Gate: 8}); got != want {
		t.Errorf("PP-OCR: folds %v, want %v", got, want)
	}
	if len(folded) >= len(model) {
		t.Errorf("PP-OCR: %d bytes folded, %d before", len(folded), len(model))
	}
	if m, err := parseModel(folded); err != nil {
		t.Fatal(err)
	} else if err := validGraph(m); err != nil {
		t.Errorf("PP-OCR folded: %v", err)
	}
	dir := testenv.Data(t, "plates/images")
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) < 4 {
		t.Fatalf("plates: %v (%d images)", err, len(ents))
	}
	for i, size := range []image.Point{{320, 320}, {448, 448}, {768, 576}, {1280, 736}} {
		src := gocv.IMRead(filepath.Join(dir, ents[i].Name()), gocv.IMReadColor)
		if src.Empty() {
			t.Fatalf("cannot read %s", ents[i].Name())
		}
		img := gocv.NewMat()
		gocv.Resize(src, &img, size, 0, 0, gocv.InterpolationArea)
		src.Close()
		worst, n := runBoth(t, model, folded, img, ppocrBlob)
		img.Close()
		if n != size.X*size.Y || worst > 1e-4 {
			t.Errorf("%v: %d values, largest difference %g", size, n, worst)
		}
	}
	yolo, _, err := darknetONNX(read(models.YoloCfg), read(models.YoloWeights))
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string][]byte{"yunet": read(models.YuNet640), "ultraface": read(models.UltraFace640), "yolo": yolo} {
		out, got, err := foldONNX(m)
		if err != nil || got != (foldCounts{}) || !bytes.Equal(out, m) {
			t.Errorf("%s: folds %v, error %v, unchanged %v", name, got, err, bytes.Equal(out, m))
		}
	}
}

// FuzzFoldONNX: no input makes the reader panic, and what it writes reads
// back with the same nodes.
func FuzzFoldONNX(f *testing.F) {
	f.Add(foldGraph())
	f.Add(foldGraph("m1", "h2"))
	f.Add([]byte{0x3a, 0x02, 0x0a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		out, got, err := foldONNX(b)
		if err != nil || got == (foldCounts{}) {
			return
		}
		in, _ := parseModel(b)
		m, err := parseModel(out)
		if err != nil {
			t.Fatalf("folded model does not read back: %v", err)
		}
		// A valid graph stays valid.
		if validGraph(in) == nil {
			if err := validGraph(m); err != nil {
				t.Errorf("a valid graph folded into an invalid one: %v", err)
			}
		}
	})
}
