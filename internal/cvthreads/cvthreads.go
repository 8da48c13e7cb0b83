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
