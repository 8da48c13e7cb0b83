package redact

/*
#cgo CFLAGS: -O3
#cgo LDFLAGS: -lm
#include <math.h>
#include <stdint.h>
#include <string.h>

// veil_pixelate paints each cell of the w x h region at (x0, y0) of a BGR
// frame whose rows are stride bytes apart with the cell's mean colour:
// cx x cy cells splitting the region evenly (cells' layout), each mean the
// channel's sum times 1/n in doubles, rounded half to even as OpenCV's
// mean and fill round it. A row of cells is read once, summed cell by cell
// into sums (3*cx), then its painted row is made once in row (3*w bytes)
// and copied into each of its rows.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__)
__attribute__((target_clones("avx2", "default")))
#endif
void veil_pixelate(uint8_t *buf, long stride, int x0, int y0, int w, int h, int cx, int cy, uint64_t *sums, uint8_t *row) {
	for (int j = 0; j < cy; j++) {
		int ya = y0 + (int)((long)j * h / cy), yb = y0 + (int)((long)(j + 1) * h / cy);
		memset(sums, 0, sizeof(uint64_t) * 3 * cx);
		for (int y = ya; y < yb; y++) {
			const uint8_t *p = buf + (long)y * stride + 3L * x0;
			for (int i = 0; i < cx; i++) {
				int xa = (int)((long)i * w / cx), xb = (int)((long)(i + 1) * w / cx);
				uint32_t s0 = 0, s1 = 0, s2 = 0;
				for (int x = xa; x < xb; x++) {
					s0 += p[3 * x];
					s1 += p[3 * x + 1];
					s2 += p[3 * x + 2];
				}
				sums[3 * i] += s0;
				sums[3 * i + 1] += s1;
				sums[3 * i + 2] += s2;
			}
		}
		for (int i = 0; i < cx; i++) {
			int xa = (int)((long)i * w / cx), xb = (int)((long)(i + 1) * w / cx);
			double inv = 1.0 / (double)((long)(xb - xa) * (yb - ya));
			uint8_t m[3];
			for (int k = 0; k < 3; k++) {
				long v = lrint((double)sums[3 * i + k] * inv);
				m[k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
			}
			for (int x = xa; x < xb; x++) {
				row[3 * x] = m[0];
				row[3 * x + 1] = m[1];
				row[3 * x + 2] = m[2];
			}
		}
		for (int y = ya; y < yb; y++) {
			memcpy(buf + (long)y * stride + 3L * x0, row, 3L * w);
		}
	}
}
*/
import "C"

import (
	"image"
	"unsafe"
)

// pixelateBytes is pixelate on the packed BGR bytes of a frame whose rows
// are stride bytes apart (b inside it), in one read and one write of b
// (veil_pixelate): the same cells, each painted with its mean rounded as
// OpenCV rounds it, so the two agree to the byte
// (TestPixelateBytesMatchesOpenCV). OpenCV's way, a Mean and a SetTo for
// each cell, read a cell's rows once for the mean and again for the fill,
// through four cgo calls; on a guard camera's 1080p frames, whose masked
// areas are cold by the time they are redacted, Mean alone took 0.76 ms a
// frame (bench/README.md, session 21).
func (r *Redactor) pixelateBytes(buf []byte, stride int, b image.Rectangle) {
	w, h := b.Dx(), b.Dy()
	if w <= 0 || h <= 0 || b.Min.X < 0 || b.Min.Y < 0 || b.Max.X*3 > stride || (b.Max.Y-1)*stride+b.Max.X*3 > len(buf) {
		return
	}
	cx, cy := cellGrid(w, h)
	if cap(r.sums) < 3*cx {
		r.sums = make([]uint64, 3*cx)
	}
	if cap(r.row) < 3*w {
		r.row = make([]byte, 3*w)
	}
	C.veil_pixelate((*C.uint8_t)(unsafe.Pointer(&buf[0])), C.long(stride), C.int(b.Min.X), C.int(b.Min.Y), C.int(w), C.int(h),
		C.int(cx), C.int(cy), (*C.uint64_t)(unsafe.Pointer(&r.sums[:1][0])), (*C.uint8_t)(unsafe.Pointer(&r.row[:1][0])))
}
