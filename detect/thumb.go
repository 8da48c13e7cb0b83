package detect

/*
#cgo CFLAGS: -O3
#include <stdint.h>
#include <stdlib.h>

// veil_gray_row is OpenCV's BGR2GRAY of one row of w pixels, bit for bit:
// its 15-bit coefficients, rounded.
static inline __attribute__((always_inline)) void veil_gray_row(const uint8_t *s, int w, uint16_t *g) {
	for (int x = 0; x < w; x++) {
		g[x] = (uint16_t)((s[3 * x] * 3735 + s[3 * x + 1] * 19235 + s[3 * x + 2] * 9798 + 16384) >> 15);
	}
}

// veil_thumb writes the change thumb of an h x w 8-bit BGR image (rows step
// bytes apart) into out, (h4/2) x (w4/2) 16-bit values, h4 and w4 being h
// and w rounded up to multiples of 4: each value is 4 times the sum of the
// grey levels of a 2x2 cell, the image extended by repeating its last row
// and column. tmp holds 2*w4 values. One pass over the image, each row's
// grey made in tmp: what CvtColor, CopyMakeBorder, ConvertTo and an area
// Resize make in four passes, with three images between them.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__)
__attribute__((target_clones("avx2", "default")))
#endif
void veil_thumb(const uint8_t *src, int h, int w, long step, uint16_t *out, uint16_t *tmp) {
	int w4 = (w + 3) & ~3, h4 = (h + 3) & ~3;
	int ow = w4 / 2, oh = h4 / 2;
	uint16_t *g0 = tmp, *g1 = tmp + w4;
	for (int oy = 0; oy < oh; oy++) {
		int y0 = 2 * oy, y1 = 2 * oy + 1;
		if (y0 > h - 1) y0 = h - 1;
		if (y1 > h - 1) y1 = h - 1;
		veil_gray_row(src + (long)y0 * step, w, g0);
		veil_gray_row(src + (long)y1 * step, w, g1);
		for (int x = w; x < w4; x++) {
			g0[x] = g0[w - 1];
			g1[x] = g1[w - 1];
		}
		uint16_t *o = out + (long)oy * ow;
		for (int ox = 0; ox < ow; ox++) {
			o[ox] = (uint16_t)(4 * (g0[2 * ox] + g0[2 * ox + 1] + g1[2 * ox] + g1[2 * ox + 1]));
		}
	}
}

// veil_change judges, strictly, the thumbs cur and ref (th x tw 16-bit
// values, both even) given ref's coarse grid rc and detail rd ((th/2) x
// (tw/2)), as Change.compare does in OpenCV's calls, bit for bit: a block
// changed where its mean (an area resize's, rounded) moved by more than
// coarse, its detail (the rounded mean of its four cells' distance from
// it) by more than detail, or one of its cells by more than fine. It
// writes 255 or 0 for each block into mask and returns how many changed.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__)
__attribute__((target_clones("avx2", "default")))
#endif
long veil_change(const uint16_t *cur, const uint16_t *ref, const uint16_t *rc, const uint16_t *rd,
		int th, int tw, int coarse, int detail, int fine, uint8_t *mask) {
	int bw = tw / 2, bh = th / 2;
	long n = 0;
	for (int by = 0; by < bh; by++) {
		const uint16_t *c0 = cur + (long)(2 * by) * tw, *c1 = c0 + tw;
		const uint16_t *r0 = ref + (long)(2 * by) * tw, *r1 = r0 + tw;
		const uint16_t *gc = rc + (long)by * bw, *gd = rd + (long)by * bw;
		uint8_t *m = mask + (long)by * bw;
		int row = 0;
		for (int bx = 0; bx < bw; bx++) { // branch-free, so it vectorizes
			int a = c0[2 * bx], b = c0[2 * bx + 1], c = c1[2 * bx], d = c1[2 * bx + 1];
			int mean = (a + b + c + d + 2) >> 2;
			int det = (abs(a - mean) + abs(b - mean) + abs(c - mean) + abs(d - mean) + 2) >> 2;
			int changed = (abs(mean - gc[bx]) > coarse) | (abs(det - gd[bx]) > detail) |
				(abs(a - r0[2 * bx]) > fine) | (abs(b - r0[2 * bx + 1]) > fine) |
				(abs(c - r1[2 * bx]) > fine) | (abs(d - r1[2 * bx + 1]) > fine);
			m[bx] = (uint8_t)(-changed);
			row += changed;
		}
		n += row;
	}
	return n;
}
*/
import "C"

import (
	"math"
	"unsafe"

	"gocv.io/x/gocv"
)

// fastThumb is Change.Thumb's one pass (veil_thumb) for a continuous 8-bit
// BGR image; it reports false, writing nothing, for any other, which then
// takes OpenCV's four. The two agree bit for bit (TestThumbMatchesOpenCV).
// Measured (bench/README.md, session 21): on vtest frames 0.30 against
// 0.41 ms back to back, 1.5-1.7 against 2.1-2.3 ms with 100 ms between
// frames, as a camera's come: the images between OpenCV's passes are cold
// by then.
func (c *Change) fastThumb(img gocv.Mat, dst *gocv.Mat) bool {
	h, w := img.Rows(), img.Cols()
	if img.Type() != gocv.MatTypeCV8UC3 || h <= 0 || w <= 0 || !img.IsContinuous() {
		return false
	}
	data, err := img.DataPtrUint8()
	if err != nil || len(data) != 3*w*h {
		return false
	}
	w4, h4 := (w+3)&^3, (h+3)&^3
	if dst.Ptr() == img.Ptr() || (!dst.Empty() && !dst.IsContinuous()) {
		return false // made in place, or into a region: OpenCV's way
	}
	if dst.Rows() != h4/2 || dst.Cols() != w4/2 || dst.Type() != gocv.MatTypeCV16U {
		fresh := gocv.NewMatWithSize(h4/2, w4/2, gocv.MatTypeCV16U)
		fresh.CopyTo(dst) // dst's own buffer, made the right size
		fresh.Close()
	}
	out, err := dst.DataPtrUint16()
	if err != nil || len(out) != (h4/2)*(w4/2) {
		return false
	}
	if cap(c.rows) < 2*w4 {
		c.rows = make([]uint16, 2*w4)
	}
	C.veil_thumb((*C.uint8_t)(unsafe.Pointer(&data[0])), C.int(h), C.int(w), C.long(3*w),
		(*C.uint16_t)(unsafe.Pointer(&out[0])), (*C.uint16_t)(unsafe.Pointer(&c.rows[0])))
	return true
}

// fastCompare is compare's strict judging in one pass (veil_change), for
// thumbs as Thumb makes them (16-bit, continuous, even sides) and ref's
// grids as grids makes them; it reports false, writing nothing, for any
// other, which then take OpenCV's calls. The two agree bit for bit
// (TestChangeMatchesOpenCV).
func (c *Change) fastCompare(cur, ref, refCoarse, refDetail gocv.Mat) (gocv.Mat, int, bool) {
	th, tw := cur.Rows(), cur.Cols()
	bh, bw := th/2, tw/2
	thumb := func(m gocv.Mat, h, w int) ([]uint16, bool) {
		if m.Type() != gocv.MatTypeCV16U || m.Rows() != h || m.Cols() != w || !m.IsContinuous() {
			return nil, false
		}
		v, err := m.DataPtrUint16()
		return v, err == nil && len(v) == h*w
	}
	if th <= 0 || tw <= 0 || th%2 != 0 || tw%2 != 0 {
		return c.mask, 0, false
	}
	pc, ok1 := thumb(cur, th, tw)
	pr, ok2 := thumb(ref, th, tw)
	gc, ok3 := thumb(refCoarse, bh, bw)
	gd, ok4 := thumb(refDetail, bh, bw)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return c.mask, 0, false
	}
	if c.mask.Rows() != bh || c.mask.Cols() != bw || c.mask.Type() != gocv.MatTypeCV8U || !c.mask.IsContinuous() {
		c.mask.Close()
		c.mask = gocv.NewMatWithSize(bh, bw, gocv.MatTypeCV8U)
	}
	m, err := c.mask.DataPtrUint8()
	if err != nil || len(m) != bh*bw {
		return c.mask, 0, false
	}
	// OpenCV's Threshold on 16-bit values floors its threshold; compare's
	// are float32.
	floor32 := func(v float64) C.int { return C.int(math.Floor(float64(float32(v)))) }
	minSums := max(1, wideScale*math.Floor(c.threshold))
	n := C.veil_change((*C.uint16_t)(unsafe.Pointer(&pc[0])), (*C.uint16_t)(unsafe.Pointer(&pr[0])),
		(*C.uint16_t)(unsafe.Pointer(&gc[0])), (*C.uint16_t)(unsafe.Pointer(&gd[0])), C.int(th), C.int(tw),
		floor32(minSums-1), floor32(wideScale*detailShare*c.threshold), floor32(wideScale*2*c.threshold),
		(*C.uint8_t)(unsafe.Pointer(&m[0])))
	return c.mask, int(n), true
}
