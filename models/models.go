// Package models resolves detector weights from a local models directory and
// checks each file against the sha256 pins in SHA256SUMS. Nothing is ever
// downloaded: hack/setup-models.sh fills the directory at set-up time.
package models

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

//go:embed SHA256SUMS
var sha256sums []byte

// Names of the files Veil uses, relative to the models directory.
const (
	YuNet640     = "yunet_legacy_mit/yunet_2021sep_static_640x480.onnx"
	YuNet320     = "yunet_legacy_mit/yunet_2021sep_static_320x240.onnx"
	YuNetS640    = "yunet_2023_apache/yunet_s_640_640.onnx"
	YuNetN640    = "yunet_2023_apache/yunet_n_640_640.onnx"
	UltraFace640 = "ultraface/version-RFB-640.onnx"
	PPOCRDet     = "ppocr_det/ch_PP-OCRv4_det_clipfix.onnx" // edited for OpenCV 4.6 (models/README.md)
	PPOCRDetORT  = "ppocr_det/ch_PP-OCRv4_det_infer.onnx"   // the unedited file, for ONNX Runtime
	YoloCfg      = "yolofastest/yolo-fastest-1.1_coco/yolo-fastest-1.1.cfg"
	YoloWeights  = "yolofastest/yolo-fastest-1.1_coco/yolo-fastest-1.1.weights"
	CocoNames    = "yolofastest/yolo-fastest-1.1_coco/coco.names"
)

// ONNXRuntimeLib names ONNX Runtime's shared library for goarch ("" where
// set-up provides none). It is not a model, but it is fetched, pinned and
// checked as one: hack/setup-models.sh takes it from the npm package
// onnxruntime-node (models/README.md).
func ONNXRuntimeLib(goarch string) string {
	switch goarch {
	case "amd64":
		return "onnxruntime/linux-x64/libonnxruntime.so.1.30.0"
	case "arm64":
		return "onnxruntime/linux-arm64/libonnxruntime.so.1.30.0"
	}
	return ""
}

// ForOtherMachine reports whether name is pinned for another machine than
// goarch (ONNX Runtime's library for another architecture): set-up leaves
// it out.
func ForOtherMachine(name, goarch string) bool {
	return strings.HasPrefix(name, "onnxruntime/") && name != ONNXRuntimeLib(goarch)
}

// ErrMissing and ErrChecksum are returned (wrapped) by Store.Path.
var (
	ErrMissing  = errors.New("model file missing")
	ErrChecksum = errors.New("model file fails its sha256 check")
	ErrUnpinned = errors.New("model file has no sha256 pin")
)

// DefaultDir is where models are looked for when neither a flag nor
// $VEIL_MODELS names a directory.
const DefaultDir = "models"

// Store is a models directory with verified access to its files.
type Store struct {
	dir  string
	pins map[string]string

	mu       sync.Mutex
	verified map[string]bool
}

// Dir returns dir if it is set, else $VEIL_MODELS, else DefaultDir.
func Dir(dir string) string {
	if dir != "" {
		return dir
	}
	if env := os.Getenv("VEIL_MODELS"); env != "" {
		return env
	}
	return DefaultDir
}

// Open returns a Store over dir. Files are checked when first asked for.
func Open(dir string) *Store {
	pins, err := parseSums(sha256sums)
	if err != nil {
		panic("models: embedded SHA256SUMS: " + err.Error()) // a build defect, not input
	}
	return &Store{dir: dir, pins: pins, verified: map[string]bool{}}
}

// Dir is the directory the store reads.
func (s *Store) Dir() string { return s.dir }

// Path returns the absolute path of the named model file after checking that
// it exists and matches its pinned sha256. The error names the file and how to
// get it.
func (s *Store) Path(name string) (string, error) {
	want, ok := s.pins[name]
	if !ok {
		return "", fmt.Errorf("%w: %s", ErrUnpinned, name)
	}
	p := filepath.Join(s.dir, filepath.FromSlash(name))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.verified[name] {
		return p, nil
	}
	got, err := fileSHA256(p)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%w: %s (run hack/setup-models.sh, or set --models / VEIL_MODELS; upstream sources in models/README.md)", ErrMissing, p)
	}
	if err != nil {
		return "", fmt.Errorf("model file %s: %w", p, err)
	}
	if got != want {
		return "", fmt.Errorf("%w: %s has sha256 %s, want %s (re-run hack/setup-models.sh)", ErrChecksum, p, got, want)
	}
	s.verified[name] = true
	return p, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("not a regular file")
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// parseSums reads sha256sum(1) output: "<64 hex>  <relative path>" per line.
func parseSums(b []byte) (map[string]string, error) {
	pins := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sum, name, ok := strings.Cut(line, " ")
		name = strings.TrimLeft(strings.TrimSpace(name), "*")
		if !ok || len(sum) != 64 || name == "" {
			return nil, fmt.Errorf("line %d: want \"<sha256>  <path>\"", n)
		}
		if _, err := hex.DecodeString(sum); err != nil {
			return nil, fmt.Errorf("line %d: bad sha256: %w", n, err)
		}
		if strings.Contains(name, "..") || filepath.IsAbs(name) {
			return nil, fmt.Errorf("line %d: path %q leaves the models directory", n, name)
		}
		pins[name] = strings.ToLower(sum)
	}
	return pins, sc.Err()
}
