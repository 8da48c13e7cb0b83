package pipeline_test

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/veil-gateway/veil/detect"
	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/models"
	"github.com/veil-gateway/veil/pipeline"
)

// TestEngineDNN: dnn auto runs on ONNX Runtime when the models directory has
// what it needs, and on OpenCV, saying why, when it lacks a file only ONNX
// Runtime needs; dnn onnxruntime is then an error, dnn opencv is not.
func TestEngineDNN(t *testing.T) {
	if models.ONNXRuntimeLib(runtime.GOARCH) == "" {
		t.Skipf("no ONNX Runtime for %s", runtime.GOARCH)
	}
	full := testenv.Models(t)
	// The same files, but for ONNX Runtime's PP-OCR file.
	partial := t.TempDir()
	sums, err := os.Open(filepath.Join(testenv.Root(t), "models", "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer sums.Close()
	for sc := bufio.NewScanner(sums); sc.Scan(); {
		_, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || name == models.PPOCRDetORT || models.ForOtherMachine(name, runtime.GOARCH) {
			continue
		}
		src, err := filepath.Abs(filepath.Join(full, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(partial, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(src, dst); err != nil {
			t.Fatal(err)
		}
	}
	cfg := pipeline.DefaultConfig()
	cfg.UltraFace = false
	for _, tc := range []struct {
		dir, dnn string
		want     detect.DNN
		why, err bool
	}{
		{full, pipeline.DNNAuto, detect.ONNXRuntime, false, false},
		{full, pipeline.DNNOpenCV, detect.OpenCV, false, false},
		{partial, pipeline.DNNAuto, detect.OpenCV, true, false},
		{partial, pipeline.DNNONNXRuntime, 0, false, true},
		{partial, pipeline.DNNOpenCV, detect.OpenCV, false, false},
	} {
		c := cfg
		c.DNN = tc.dnn
		e, err := pipeline.NewEngine(c, models.Open(tc.dir))
		if tc.err {
			if err == nil {
				e.Close()
				t.Errorf("%s, dnn %s: no error", filepath.Base(tc.dir), tc.dnn)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s, dnn %s: %v", filepath.Base(tc.dir), tc.dnn, err)
		}
		got, why := e.DNN()
		e.Close()
		if got != tc.want || (why != nil) != tc.why {
			t.Errorf("%s, dnn %s: %v (why: %v), want %v", filepath.Base(tc.dir), tc.dnn, got, why, tc.want)
		}
		if tc.why && !strings.Contains(why.Error(), filepath.Base(models.PPOCRDetORT)) {
			t.Errorf("the reason does not name the missing file: %v", why)
		}
	}
}
