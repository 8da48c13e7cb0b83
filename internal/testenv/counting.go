package testenv

import (
	"path/filepath"
	"testing"

	"github.com/veil-gateway/veil/eval/linetruth"
)

// LineTruthFile is the hand-counted line of vtest.avi (see its README).
func LineTruthFile(tb testing.TB) string {
	return filepath.Join(Root(tb), "testdata", "counting", "vtest-line.json")
}

// ReadLineTruth reads the hand-counted line of vtest.avi.
func ReadLineTruth(tb testing.TB) linetruth.Truth {
	tb.Helper()
	gt, err := linetruth.Read(LineTruthFile(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return gt
}
