package pipeline_test

import (
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/count"
	"github.com/veil-gateway/veil/internal/testenv"
	"github.com/veil-gateway/veil/models"
	"github.com/veil-gateway/veil/pipeline"
)

// BenchmarkCounting is the counting stage per frame of vtest.avi (768x576):
// Yolo-Fastest (whole frame and native-resolution tiles), tracking and
// counting.
func BenchmarkCounting(b *testing.B) {
	gt := testenv.ReadLineTruth(b)
	v, err := pipeline.OpenVideo(testenv.Data(b, gt.Clip))
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	frame := gocv.NewMat()
	defer frame.Close()
	if err := v.Read(&frame); err != nil {
		b.Fatal(err)
	}
	passes, _ := pipeline.ParsePasses("0,1:15")
	c, err := pipeline.NewCounting(pipeline.CountConfig{Every: 1, Threshold: 0.3, Passes: passes, Lines: []count.Line{gt.CountLine()}}, models.Open(testenv.Models(b)))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	now := time.Now()
	for b.Loop() {
		now = now.Add(100 * time.Millisecond)
		if _, err := c.Process(frame, now); err != nil {
			b.Fatal(err)
		}
	}
}
