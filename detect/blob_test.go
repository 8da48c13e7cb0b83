package detect

import (
	"image"
	"math"
	"path/filepath"
	"testing"

	"gocv.io/x/gocv"

	"github.com/veil-gateway/veil/internal/cvthreads"
	"github.com/veil-gateway/veil/internal/testenv"
)

// blobSpecs are the detectors' inputs, as their infer methods give them.
var blobSpecs = map[string]blobSpec{
	"yunet":     {scale: 1},
	"yolo":      {scale: 1.0 / 255, swapRB: true},
	"ultraface": {scale: 1.0 / 128, mean: [3]float64{127, 127, 127}, swapRB: true},
	"ppocr":     ppocrBlob,
	// Means that differ per channel without the swap: each must land on
	// its own plane.
	"unswapped": {scale: 0.5, mean: [3]float64{10, 100, 200}},
}

// realInput is a plate photo resized to w x h, as a tile reaches a
// network.
func realInput(t testing.TB, w, h int) gocv.Mat {
	t.Helper()
	img := gocv.IMRead(filepath.Join(testenv.Data(t, "plates"), "images", "0b86cecf-67d1-4fc0-87c9-b36b0ee228bb.jpg"), gocv.IMReadColor)
	if img.Empty() {
		t.Fatal("cannot read the plate photo")
	}
	defer img.Close()
	out := gocv.NewMat()
	gocv.Resize(img, &out, image.Pt(w, h), 0, 0, gocv.InterpolationLinear)
	return out
}

// TestBlobFill: the one-pass conversion gives OpenCV's blobFromImage's
// values for every detector's input, at every size a tile takes, and
// reuses the buffer it is given.
func TestBlobFill(t *testing.T) {
	var buf []float32
	for _, size := range []image.Point{{640, 480}, {320, 256}, {33, 17}, {1, 1}} {
		img := realInput(t, size.X, size.Y)
		for name, s := range blobSpecs {
			want := s.cvBlob(img)
			wv, err := floatData(want, 3*size.X*size.Y)
			if err != nil {
				t.Fatal(err)
			}
			prev := buf
			buf, err = s.fill(img, buf)
			if err != nil {
				t.Fatalf("%s %v: %v", name, size, err)
			}
			if len(buf) != len(wv) {
				t.Fatalf("%s %v: %d values, want %d", name, size, len(buf), len(wv))
			}
			if cap(prev) >= len(buf) && &prev[:1][0] != &buf[0] {
				t.Errorf("%s %v: a large enough buffer was not reused", name, size)
			}
			worst := 0.0
			for i := range wv {
				worst = max(worst, math.Abs(float64(wv[i]-buf[i])))
			}
			if worst > 1e-5 {
				t.Errorf("%s %v: values differ from blobFromImage's by up to %g", name, size, worst)
			}
			want.Close()
		}
		img.Close()
	}
}

// Inputs it cannot read are errors, never a read out of bounds.
func TestBlobFillRejects(t *testing.T) {
	frame := realInput(t, 64, 48)
	defer frame.Close()
	grey := gocv.NewMatWithSize(48, 64, gocv.MatTypeCV8U)
	defer grey.Close()
	float := gocv.NewMatWithSize(48, 64, gocv.MatTypeCV32FC3)
	defer float.Close()
	empty := gocv.NewMat()
	defer empty.Close()
	region := frame.Region(image.Rect(8, 8, 40, 40)) // rows not back to back: not continuous
	defer region.Close()
	for name, m := range map[string]gocv.Mat{"grey": grey, "float": float, "empty": empty, "region": region} {
		if _, err := blobSpecs["yunet"].fill(m, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// BenchmarkBlob: a 640x640 input (PP-OCR's) made by OpenCV's blobFromImage
// and by the one-pass conversion.
func BenchmarkBlob(b *testing.B) {
	img := realInput(b, 640, 640)
	defer img.Close()
	defer cvthreads.Set(cvthreads.Get())
	cvthreads.Set(1) // as a guard camera runs OpenCV
	b.Run("blobFromImage", func(b *testing.B) {
		for b.Loop() {
			m := ppocrBlob.cvBlob(img)
			m.Close()
		}
	})
	b.Run("fill", func(b *testing.B) {
		var buf []float32
		for b.Loop() {
			var err error
			if buf, err = ppocrBlob.fill(img, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
