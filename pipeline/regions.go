package pipeline

/*
#cgo CFLAGS: -O3
#include <stdint.h>
#include <string.h>

static int32_t veil_find(int32_t *parent, int32_t x) {
	while (parent[x] != x) {
		parent[x] = parent[parent[x]];
		x = parent[x];
	}
	return x;
}

// veil_regions grows the changed blocks of mask (w x h, non-zero changed)
// by d blocks on each side (a (2d+1)-square dilation, clipped at the
// edges) and finds the 8-connected components of the result, as OpenCV's
// Dilate and ConnectedComponentsWithStats do: each component's bounding
// box (x0, y0, x1, y1, exclusive) goes into boxes, in the order of its
// first block in raster order (OpenCV's order differs: it scans two rows
// at a time), at most max of them. It returns how many components there
// are (more than max: only the first max are written), and the number of
// blocks the boxes cover together in *covered. Components are found on
// runs of changed blocks, not block by block. Scratch: grown and tmp (w*h
// bytes each), runs (3 values a run: at most (w+1)/2*h runs) and parent
// (2 a run).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__)
__attribute__((target_clones("avx2", "default")))
#endif
long veil_regions(const uint8_t *mask, int w, int h, int d, uint8_t *grown, uint8_t *tmp,
		int32_t *runs, int32_t *parent, int32_t *boxes, int max, long *covered) {
	// Dilation: each row's changed blocks (0 or 1), spread sideways, then
	// the rows spread up and down; plain loops, so they vectorize.
	for (int y = 0; y < h; y++) {
		const uint8_t *m = mask + (long)y * w;
		uint8_t *g = grown + (long)y * w, *t = tmp + (long)y * w;
		for (int x = 0; x < w; x++) g[x] = m[x] != 0;
		memcpy(t, g, w);
		for (int k = 1; k <= d && k < w; k++) {
			for (int x = 0; x + k < w; x++) t[x] |= g[x + k];
			for (int x = k; x < w; x++) t[x] |= g[x - k];
		}
	}
	for (int y = 0; y < h; y++) {
		int a = y - d < 0 ? 0 : y - d, b = y + d >= h ? h - 1 : y + d;
		uint8_t *g = grown + (long)y * w;
		memcpy(g, tmp + (long)a * w, w);
		for (int k = a + 1; k <= b; k++) {
			const uint8_t *t = tmp + (long)k * w;
			for (int x = 0; x < w; x++) g[x] |= t[x];
		}
	}
	// Runs of changed blocks, row by row (y, x0, x1), each joined to the
	// runs of the row above that touch it, diagonals included.
	int32_t nr = 0, prev = 0, prevEnd = 0; // the row above's runs not yet passed: [prev, prevEnd)
	for (int y = 0; y < h; y++) {
		const uint8_t *g = grown + (long)y * w;
		int32_t start = nr;
		for (int x = 0; x < w;) {
			if (!g[x]) { x++; continue; }
			int x0 = x;
			while (x < w && g[x]) x++;
			int32_t *r = runs + 3L * nr;
			r[0] = y; r[1] = x0; r[2] = x;
			parent[nr] = nr;
			// The row above's runs ending before this one's reach end
			// before every later run's too: prev moves past them for good.
			while (prev < prevEnd && runs[3L * prev + 2] < x0) prev++;
			for (int32_t p = prev; p < prevEnd; p++) {
				const int32_t *q = runs + 3L * p;
				if (q[1] > x) break; // starts past this run's reach
				int32_t a = veil_find(parent, p), b = veil_find(parent, nr);
				if (a < b) parent[b] = a; else if (b < a) parent[a] = b;
			}
			nr++;
		}
		prev = start;
		prevEnd = nr;
	}
	// Final indices in the order each component's first run is met (runs
	// are in raster order); boxes.
	int32_t *index = parent + nr;
	for (int32_t i = 0; i < nr; i++) index[i] = -1;
	long n = 0;
	for (int32_t i = 0; i < nr; i++) {
		const int32_t *r = runs + 3L * i;
		int32_t root = veil_find(parent, i);
		if (index[root] < 0) {
			index[root] = (int32_t)n++;
			if (index[root] < max) {
				int32_t *b = boxes + 4L * index[root];
				b[0] = r[1]; b[1] = r[0]; b[2] = r[2]; b[3] = r[0] + 1;
			}
		} else if (index[root] < max) {
			int32_t *b = boxes + 4L * index[root];
			if (r[1] < b[0]) b[0] = r[1];
			if (r[2] > b[2]) b[2] = r[2];
			b[3] = r[0] + 1;
		}
	}
	// The blocks the boxes cover together (tmp, cleared, is the cover).
	long c = 0;
	if (n <= max) {
		memset(tmp, 0, (long)w * h);
		for (long k = 0; k < n; k++) {
			const int32_t *b = boxes + 4 * k;
			for (int y = b[1]; y < b[3]; y++) memset(tmp + (long)y * w + b[0], 1, b[2] - b[0]);
		}
		for (long i = 0; i < (long)w * h; i++) c += tmp[i];
	}
	*covered = c;
	return n;
}
*/
import "C"

import (
	"image"
	"unsafe"

	"gocv.io/x/gocv"
)

// blockRegions is regions' work on the block grid in one pass of C
// (veil_regions): mask (8-bit, continuous, non-zero where changed) grown
// by dilate blocks and split into 8-connected components, as OpenCV's
// Dilate and ConnectedComponentsWithStats split it, in another order
// (TestBlockRegionsMatchOpenCV), returned as boxes on the grid with the
// blocks they cover together; ok is false for a mask it does not take.
// More than MaxGuardRegions components: n is their number, boxes holds
// none. On a 1080p guard camera OpenCV's calls took 0.5 ms a frame, their
// label image cold by each frame (bench/README.md, session 21).
func (g *Guard) blockRegions(mask gocv.Mat) (boxes []image.Rectangle, n int, covered int, ok bool) {
	w, h := mask.Cols(), mask.Rows()
	if mask.Type() != gocv.MatTypeCV8U || w <= 0 || h <= 0 || !mask.IsContinuous() {
		return nil, 0, 0, false
	}
	m, err := mask.DataPtrUint8()
	if err != nil || len(m) != w*h {
		return nil, 0, 0, false
	}
	if cells := w * h; len(g.grown) < cells {
		g.grown, g.tmp = make([]uint8, cells), make([]uint8, cells)
	}
	if runs := (w + 1) / 2 * h; len(g.parent) < 2*runs {
		g.runs, g.parent = make([]int32, 3*runs), make([]int32, 2*runs)
	}
	if len(g.boxes) < 4*(MaxGuardRegions+1) {
		g.boxes = make([]int32, 4*(MaxGuardRegions+1))
	}
	var c C.long
	k := C.veil_regions((*C.uint8_t)(unsafe.Pointer(&m[0])), C.int(w), C.int(h), C.int(max(g.dilate, 0)),
		(*C.uint8_t)(unsafe.Pointer(&g.grown[0])), (*C.uint8_t)(unsafe.Pointer(&g.tmp[0])),
		(*C.int32_t)(unsafe.Pointer(&g.runs[0])), (*C.int32_t)(unsafe.Pointer(&g.parent[0])),
		(*C.int32_t)(unsafe.Pointer(&g.boxes[0])), C.int(MaxGuardRegions), &c)
	n = int(k)
	if n > MaxGuardRegions {
		return nil, n, 0, true
	}
	boxes = make([]image.Rectangle, n)
	for i := range boxes {
		b := g.boxes[4*i : 4*i+4]
		boxes[i] = image.Rect(int(b[0]), int(b[1]), int(b[2]), int(b[3]))
	}
	return boxes, n, int(c), true
}
