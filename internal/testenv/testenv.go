// Package testenv finds the shared test data and the models directory for
// tests and benchmarks, and skips with a clear message when they are absent.
package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// Root is the module root (the directory holding go.mod).
func Root(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("testenv: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Data returns the path of rel inside the shared data ($VEIL_DATA, else
// ../shared/data beside the checkout). It fails the test when it is missing:
// CI always has it, and a silently skipped data test proves nothing.
func Data(tb testing.TB, rel string) string {
	tb.Helper()
	base := os.Getenv("VEIL_DATA")
	if base == "" {
		base = filepath.Join(Root(tb), "..", "shared", "data")
	}
	p := filepath.Join(base, rel)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("testenv: test data %s missing (set VEIL_DATA or put shared/ beside the checkout): %v", p, err)
	}
	return p
}

// Models returns the models directory ($VEIL_MODELS, else models/ in the
// checkout, filled by hack/setup-models.sh).
func Models(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("VEIL_MODELS"); d != "" {
		return d
	}
	return filepath.Join(Root(tb), "models")
}
