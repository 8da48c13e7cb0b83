package detect

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"
)

// ortLib is the ONNX Runtime library the process loaded: ONNX Runtime's
// environment is process-wide, so it is loaded once, from one file.
var ortLib struct {
	mu   sync.Mutex
	path string
	err  error
}

// LoadONNXRuntime loads ONNX Runtime's shared library from path (a file the
// models store has checked: models.ONNXRuntimeLib) for networks loaded on
// ONNXRuntime. Loading it again from the same path does nothing; from
// another, it is an error. The library must be ONNX Runtime 1.20 or later
// (its C API version 20).
func LoadONNXRuntime(path string) error {
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p // one file, however it is reached
	}
	ortLib.mu.Lock()
	defer ortLib.mu.Unlock()
	if ortLib.path != "" {
		if path == ortLib.path {
			return ortLib.err
		}
		if ortLib.err != nil {
			return fmt.Errorf("onnxruntime: not loading %s: loading %s failed before: %w", path, ortLib.path, ortLib.err)
		}
		return fmt.Errorf("onnxruntime: already loaded from %s, not %s", ortLib.path, path)
	}
	if err := checkModelFile(path); err != nil {
		return fmt.Errorf("onnxruntime: %w", err)
	}
	ort.SetSharedLibraryPath(path)
	ortLib.path = path
	if err := ort.InitializeEnvironment(); err != nil {
		ortLib.err = fmt.Errorf("onnxruntime: loading %s: %w", path, err)
	}
	return ortLib.err
}

func ortLoaded() bool {
	ortLib.mu.Lock()
	defer ortLib.mu.Unlock()
	return ortLib.path != "" && ortLib.err == nil
}

// ortNet is a network on ONNX Runtime. It runs on one thread, as a
// guard-mode camera's networks do on OpenCV (bench/README.md): detectors
// run side by side for parallelism, and a pool of ONNX Runtime's own would
// spin between runs. Outputs are kept per input shape and written again by
// each run of that shape, so a run allocates only headers (the input
// tensor's, the shapes'), not the outputs' values.
type ortNet struct {
	s     *ort.DynamicAdvancedSession
	names []string
	byIn  map[[4]int64][]ort.Value
	data  []tensor
	in    []float32 // the input's values, reused (blobSpec.fill)
}

// ortShapes bounds how many input shapes a network keeps outputs for (PP-OCR
// runs three: its large, middle and small inputs).
const ortShapes = 4

// newORTNet loads the ONNX file at path. outs names the outputs forward
// returns; none: the model's only output.
func newORTNet(path string, outs []string) (*ortNet, error) {
	model, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("onnxruntime: %w", err)
	}
	// Fewer passes over the activations, the same outputs (foldONNX). A
	// model the folder cannot read is loaded as it is: ONNX Runtime's own
	// reader has the last word on it.
	if folded, c, err := foldONNX(model); err == nil && c != (foldCounts{}) {
		if n, err := newORTNetData(folded, outs); err == nil {
			return n, nil
		}
		// ONNX Runtime refused the rewrite: the model as it came.
	}
	n, err := newORTNetData(model, outs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// newORTNetData loads an ONNX model held in memory.
func newORTNetData(model []byte, outs []string) (*ortNet, error) {
	if !ortLoaded() {
		return nil, fmt.Errorf("ONNX Runtime is not loaded (models.ONNXRuntimeLib)")
	}
	ins, outInfo, err := ort.GetInputOutputInfoWithONNXData(model)
	if err != nil {
		return nil, fmt.Errorf("onnxruntime: %w", err)
	}
	if len(ins) != 1 {
		return nil, fmt.Errorf("onnxruntime: the model has %d inputs, want 1", len(ins))
	}
	if len(outs) == 0 {
		if len(outInfo) != 1 {
			return nil, fmt.Errorf("onnxruntime: the model has %d outputs, want 1", len(outInfo))
		}
		outs = []string{outInfo[0].Name}
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("onnxruntime: %w", err)
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("onnxruntime: %w", err)
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, fmt.Errorf("onnxruntime: %w", err)
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(model, []string{ins[0].Name}, outs, opts)
	if err != nil {
		return nil, fmt.Errorf("onnxruntime: %w", err)
	}
	return &ortNet{s: s, names: outs, byIn: map[[4]int64][]ort.Value{}}, nil
}

func (n *ortNet) forward(img gocv.Mat, spec blobSpec) ([]tensor, error) {
	var err error
	if n.in, err = spec.fill(img, n.in); err != nil {
		return nil, err
	}
	key := [4]int64{1, 3, int64(img.Rows()), int64(img.Cols())}
	t, err := ort.NewTensor(ort.NewShape(key[:]...), n.in)
	if err != nil {
		return nil, fmt.Errorf("onnxruntime: input: %w", err)
	}
	defer t.Destroy()
	outs, ok := n.byIn[key]
	if !ok {
		if len(n.byIn) >= ortShapes {
			n.release()
		}
		outs = make([]ort.Value, len(n.names)) // made by the first run
	}
	if err := n.s.Run([]ort.Value{t}, outs); err != nil {
		if !ok {
			destroy(outs)
		}
		return nil, fmt.Errorf("onnxruntime: %w", err)
	}
	n.byIn[key] = outs
	n.data = n.data[:0]
	for i, v := range outs {
		f, ok := v.(*ort.Tensor[float32])
		if !ok || len(f.GetData()) == 0 {
			return nil, fmt.Errorf("onnxruntime: output %s is not float32 values", n.names[i])
		}
		dims := make([]int, len(f.GetShape()))
		for j, d := range f.GetShape() {
			dims[j] = int(d)
		}
		n.data = append(n.data, tensor{f.GetData(), dims})
	}
	return n.data, nil
}

func destroy(vs []ort.Value) {
	for _, v := range vs {
		if v != nil {
			v.Destroy()
		}
	}
}

func (n *ortNet) release() {
	for k, vs := range n.byIn {
		destroy(vs)
		delete(n.byIn, k)
	}
}

func (n *ortNet) close() error {
	n.release()
	return n.s.Destroy()
}
