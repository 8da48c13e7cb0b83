package detect

/*
#include <stdint.h>

// veil_blob writes an 8-bit BGR image (rows x cols, step bytes a row) as
// three float planes of rows x cols: (pixel - mean) * scale, the source's
// blue, green and red channels into planes b, g and r. One pass, no
// temporaries: what OpenCV's blobFromImage does in four, each with a fresh
// buffer.
static void veil_blob(const uint8_t *src, int rows, int cols, long step, float *out,
		int b, int g, int r, float mb, float mg, float mr, float scale) {
	long plane = (long)rows * cols;
	float *pb = out + b * plane, *pg = out + g * plane, *pr = out + r * plane;
	for (int y = 0; y < rows; y++) {
		const uint8_t *s = src + (long)y * step;
		long o = (long)y * cols;
		for (int x = 0; x < cols; x++) {
			pb[o + x] = ((float)s[3 * x] - mb) * scale;
			pg[o + x] = ((float)s[3 * x + 1] - mg) * scale;
			pr[o + x] = ((float)s[3 * x + 2] - mr) * scale;
		}
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

// fill writes img (8-bit BGR, any step: a region of a larger Mat too) into
// dst as the blob cvBlob would make, reusing dst's memory when it is large
// enough, and returns it. Measured (BenchmarkBlob): a 640x640 input in
// about a twentieth of blobFromImage's CPU.
func (s blobSpec) fill(img gocv.Mat, dst []float32) ([]float32, error) {
	rows, cols := img.Rows(), img.Cols()
	if img.Type() != gocv.MatTypeCV8UC3 || rows <= 0 || cols <= 0 {
		return dst, fmt.Errorf("detect: input is %dx%d type %v, want 8-bit BGR", cols, rows, img.Type())
	}
	step := img.Step()
	if step < cols*3 {
		return dst, fmt.Errorf("detect: input row step %d is under %d bytes", step, cols*3)
	}
	data, err := img.DataPtrUint8() // the Mat's own memory: (rows-1)*step + cols*3 bytes
	if err != nil {
		return dst, fmt.Errorf("detect: input: %w", err)
	}
	if len(data) < (rows-1)*step+cols*3 {
		return dst, fmt.Errorf("detect: input holds %d bytes, want %d", len(data), (rows-1)*step+cols*3)
	}
	n := 3 * rows * cols
	if cap(dst) < n {
		dst = make([]float32, n)
	}
	dst = dst[:n]
	// Planes in the network's order: blue first, unless swapped to RGB.
	b, r := 0, 2
	if s.swapRB {
		b, r = 2, 0
	}
	C.veil_blob((*C.uint8_t)(unsafe.Pointer(&data[0])), C.int(rows), C.int(cols), C.long(step),
		(*C.float)(unsafe.Pointer(&dst[0])), C.int(b), C.int(1), C.int(r),
		C.float(s.mean[b]), C.float(s.mean[1]), C.float(s.mean[r]), C.float(s.scale))
	return dst, nil
}
