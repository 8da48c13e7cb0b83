package cvthreads_test

import (
	"runtime"
	"testing"

	"github.com/veil-gateway/veil/internal/cvthreads"
)

func TestSet(t *testing.T) {
	defer cvthreads.Set(cvthreads.Default)
	cvthreads.Set(1)
	if got := cvthreads.Get(); got != 1 {
		t.Fatalf("after Set(1): %d threads", got)
	}
	cvthreads.Set(0)
	if got := cvthreads.Get(); got < 1 || got > max(runtime.NumCPU(), 1)*2 {
		t.Fatalf("after Set(0) (the default): %d threads, want OpenCV's own count", got)
	}
	if got, want := cvthreads.Auto(true), max(1, runtime.NumCPU()-1); got != want {
		t.Errorf("Auto(all guard) = %d, want %d (a core left to the frame path)", got, want)
	}
	if got := cvthreads.Auto(false); got != cvthreads.Default {
		t.Errorf("Auto(not all guard) = %d, want the default", got)
	}
}
