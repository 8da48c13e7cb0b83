// Package cvthreads sets how many threads OpenCV's own parallel loops use,
// and so how many threads each DNN forward pass (and each resize, colour
// conversion) spreads over. It is OpenCV's process-wide setting; Debian's
// TBB build ignores OPENCV_FOR_THREADS_NUM, so it is set through
// cv::setNumThreads here.
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
// for decoding, redacting and encoding; a network spread over every core
// makes the two wait on each other, and waiting threads spin. So guard mode
// leaves the frame path one core and gives the network the rest. Measured
// on two cores (bench/README.md), 720p30 guard on vtest, 20 s, three runs
// each: 58.0-58.7 ms of CPU a frame with OpenCV's default (two threads),
// 47.3-48.6 ms with one, with as many detections (14-18 against 17-18) and
// about the same share of each frame masked (26-28 % against 26-27 %). The
// synchronous path runs its detectors side by side, which already keeps the
// cores busy; one thread there showed no clear gain, so it keeps the default.
func Auto(allGuard bool) int {
	if allGuard {
		return max(1, runtime.NumCPU()-1)
	}
	return Default
}
