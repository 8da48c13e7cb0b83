package cvthreads_test

import (
	"runtime"
	"testing"

	"github.com/veil-gateway/veil/internal/cvthreads"
)

func TestSet(t *testing.T) {
	cvthreads.Set(cvthreads.Default)
	def := cvthreads.Get()
	defer cvthreads.Set(cvthreads.Default)
	if def < 1 {
		t.Fatalf("OpenCV's default: %d threads", def)
	}
	cvthreads.Set(1)
	if got := cvthreads.Get(); got != 1 {
		t.Fatalf("after Set(1): %d threads", got)
	}
	if runtime.NumCPU() > 1 {
		cvthreads.Set(2)
		if got := cvthreads.Get(); got != 2 {
			t.Fatalf("after Set(2): %d threads", got)
		}
	}
	cvthreads.Set(0) // back to the default
	if got := cvthreads.Get(); got != def {
		t.Fatalf("after Set(0): %d threads, want OpenCV's default %d", got, def)
	}
}
