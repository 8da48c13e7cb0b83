package detect

/*
#include <stdint.h>

// veil_blob writes n 8-bit BGR pixels as three float planes of n values:
// (pixel - mean) * scale, the source's blue, green and red channels into
// planes b, g and r. One pass, no temporaries: what OpenCV's blobFromImage
// does in four, each with a fresh buffer.
static void veil_blob(const uint8_t *src, long n, float *out,
		int b, int g, int r, float mb, float mg, float mr, float scale) {
	float *pb = out + b * n, *pg = out + g * n, *pr = out + r * n;
	for (long i = 0; i < n; i++) {
		pb[i] = ((float)src[3 * i] - mb) * scale;
		pg[i] = ((float)src[3 * i + 1] - mg) * scale;
		pr[i] = ((float)src[3 * i + 2] - mr) * scale;
	}
}
*/
import "C"

import (
	"fmt"
	"image"
	"unsafe"

	"gocv.io/x/gocv"
)

// blobSpec is how a network wants its input, as OpenCV's blobFromImage is
// told: channels in RGB order when swapRB, (pixel - mean) * scale, one NCHW
// float32 image the size of the network's input.
type blobSpec struct {
	scale  float64
	mean   [3]float64 // subtracted per channel, in the network's order (after swapRB)
	swapRB bool
}

// cvBlob is the blob OpenCV's DNN module makes of img (the caller closes it).
func (s blobSpec) cvBlob(img gocv.Mat) gocv.Mat {
	return gocv.BlobFromImage(img, s.scale, image.Pt(img.Cols(), img.Rows()),
		gocv.NewScalar(s.mean[0], s.mean[1], s.mean[2], 0), s.swapRB, false)
}

// fill writes img (8-bit BGR, continuous, as a tiler's padded input is)
// into dst as the blob cvBlob would make, reusing dst's memory when it is
// large enough, and returns it. Measured (bench/README.md, session 16): as
// fast as blobFromImage on one size repeated, and without its fresh buffer
// a run, which the detectors' many input sizes paid for in page faults.
func (s blobSpec) fill(img gocv.Mat, dst []float32) ([]float32, error) {
	rows, cols := img.Rows(), img.Cols()
	if img.Type() != gocv.MatTypeCV8UC3 || rows <= 0 || cols <= 0 {
		return dst, fmt.Errorf("detect: input is %dx%d type %v, want 8-bit BGR", cols, rows, img.Type())
	}
	data, err := img.DataPtrUint8() // the Mat's own memory; an error unless continuous
	if err != nil {
		return dst, fmt.Errorf("detect: input: %w", err)
	}
	n := 3 * rows * cols
	if len(data) != n {
		return dst, fmt.Errorf("detect: input holds %d bytes, want %d", len(data), n)
	}
	if cap(dst) < n {
		dst = make([]float32, n)
	}
	dst = dst[:n]
	// Planes in the network's order: blue first, unless swapped to RGB.
	b, r := 0, 2
	if s.swapRB {
		b, r = 2, 0
	}
	C.veil_blob((*C.uint8_t)(unsafe.Pointer(&data[0])), C.long(rows*cols),
		(*C.float)(unsafe.Pointer(&dst[0])), C.int(b), C.int(1), C.int(r),
		C.float(s.mean[b]), C.float(s.mean[1]), C.float(s.mean[r]), C.float(s.scale))
	return dst, nil
}
