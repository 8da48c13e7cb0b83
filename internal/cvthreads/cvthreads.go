// Package cvthreads sets how many threads OpenCV's own parallel loops use,
// and so how many threads each DNN forward pass (and each resize, colour
// conversion) spreads over. It is OpenCV's process-wide setting, set through
// cv::setNumThreads: Debian's TBB build ignores OPENCV_FOR_THREADS_NUM.
package cvthreads

/*
#cgo pkg-config: opencv4
#cgo CXXFLAGS: -std=c++11
#include "threads.h"
*/
import "C"

import "runtime"

// Default asks for OpenCV's own choice: every core.
const Default = -1

// Set makes OpenCV's parallel loops use n threads (n < 1: Default). Call it
// between runs, not while a network is running.
func Set(n int) {
	if n < 1 {
		n = Default
	}
	C.veil_cv_set_threads(C.int(n))
}

// Get reports how many threads OpenCV's parallel loops use.
func Get() int { return int(C.veil_cv_get_threads()) }

// Auto is the count Veil picks when not told. In guard mode the detectors
// run one network at a time beside the frame path, which needs about a core
// to decode, redact and encode; a network spread over every core makes the
// two wait on each other. So guard mode leaves the frame path one core and
// gives the networks the rest (measured on two cores: bench/README.md). The
// synchronous path runs its detectors side by side, which keeps the cores
// busy already; it keeps OpenCV's default.
func Auto(allGuard bool) int {
	if allGuard {
		return max(1, runtime.NumCPU()-1)
	}
	return Default
}

// Choose is configured when it is set (> 0), else Auto(allGuard).
func Choose(configured int, allGuard bool) int {
	if configured > 0 {
		return configured
	}
	return Auto(allGuard)
}
