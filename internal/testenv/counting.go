package testenv

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// LineTruth is testdata/counting/vtest-line.json: crossings of a line on
// vtest.avi counted by watching the frames (see its README).
type LineTruth struct {
	Clip          string `json:"clip"` // relative to the shared data
	Width, Height float64
	Line          struct {
		Name string     `json:"name"`
		A    [2]float64 `json:"a"` // pixels
		B    [2]float64 `json:"b"`
	} `json:"line"`
	Counts    struct{ In, Out int } `json:"counts"`
	Crossings []struct {
		Frame     int    `json:"frame"`
		Direction string `json:"direction"`
	} `json:"crossings"`
}

// Fractions returns the line's ends in fractions of the frame.
func (gt LineTruth) Fractions() (a, b [2]float64) {
	return [2]float64{gt.Line.A[0] / gt.Width, gt.Line.A[1] / gt.Height}, [2]float64{gt.Line.B[0] / gt.Width, gt.Line.B[1] / gt.Height}
}

// ReadLineTruth reads the hand-counted line of vtest.avi.
func ReadLineTruth(tb testing.TB) LineTruth {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(Root(tb), "testdata", "counting", "vtest-line.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var gt LineTruth
	if err := json.Unmarshal(b, &gt); err != nil {
		tb.Fatal(err)
	}
	return gt
}
