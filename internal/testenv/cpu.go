package testenv

import (
	"syscall"
	"testing"
	"time"
)

// CPUTime is the process's CPU time so far, user and system: OpenCV runs
// some operations on its own threads, so a benchmark's wall time can
// understate their cost.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ReportCPU reports the process's CPU time per op since c0 (a CPUTime), in
// ms, as the benchmark's cpu-ms/op metric.
func ReportCPU(b *testing.B, c0 time.Duration) {
	b.ReportMetric(float64(CPUTime()-c0)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}
