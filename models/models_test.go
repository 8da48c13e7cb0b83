package models

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestStorePath(t *testing.T) {
	dir := t.TempDir()
	s := Open(dir)
	if _, err := s.Path(YuNet640); !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "yunet_2021sep_static_640x480.onnx") || !strings.Contains(err.Error(), "setup-models") {
		t.Fatalf("missing: err = %v, want ErrMissing naming the file and the set-up script", err)
	}
	p := filepath.Join(dir, filepath.FromSlash(YuNet640))
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte("not the model"), 0o644)
	if _, err := s.Path(YuNet640); !errors.Is(err, ErrChecksum) {
		t.Fatalf("corrupt: err = %v, want ErrChecksum", err)
	}
	if _, err := s.Path("other/model.onnx"); !errors.Is(err, ErrUnpinned) {
		t.Fatalf("unpinned: err = %v, want ErrUnpinned", err)
	}
}

func TestStoreAcceptsPinnedFile(t *testing.T) {
	// The checkout's models directory is filled by hack/setup-models.sh.
	s := Open(filepath.Join("..", "models"))
	for name := range s.pins {
		if ForOtherMachine(name, runtime.GOARCH) {
			continue
		}
		if _, err := s.Path(name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseSums(t *testing.T) {
	good := strings.Repeat("a", 64) + "  dir/file.onnx\n# comment\n\n"
	if pins, err := parseSums([]byte(good)); err != nil || pins["dir/file.onnx"] == "" {
		t.Fatalf("parseSums(good) = %v, %v", pins, err)
	}
	for _, bad := range []string{"abc  x", strings.Repeat("g", 64) + "  x", strings.Repeat("a", 64) + "  ../x", strings.Repeat("a", 64) + "  /etc/x", strings.Repeat("a", 64)} {
		if _, err := parseSums([]byte(bad)); err == nil {
			t.Errorf("parseSums(%q): want an error", bad)
		}
	}
}

func FuzzParseSums(f *testing.F) {
	f.Add([]byte(strings.Repeat("a", 64) + "  dir/file.onnx\n"))
	f.Add(sha256sums)
	f.Fuzz(func(t *testing.T, b []byte) {
		pins, err := parseSums(b)
		if err != nil {
			return
		}
		for name, sum := range pins {
			if len(sum) != 64 || strings.Contains(name, "..") || filepath.IsAbs(name) {
				t.Fatalf("bad pin %q %q", name, sum)
			}
		}
	})
}
