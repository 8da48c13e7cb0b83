package main

import (
	"os"
	"syscall"
)

// limitMallocArenas restarts the process with MALLOC_ARENA_MAX=2 unless it
// is set. OpenCV's worker threads each get a glibc malloc arena by default
// and their fragmentation made RSS creep (720p live: 304 -> 406 MB in 10
// minutes, Go heap flat at 5-9 MB); with two arenas it stays flat (veil
// bench, rss_samples_mb). glibc reads the variable only at start, and
// mallopt from main comes too late (measured: no effect), hence the exec.
// If the exec fails, Veil runs on with glibc's default.
func limitMallocArenas() {
	if os.Getenv("MALLOC_ARENA_MAX") != "" {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	_ = syscall.Exec(exe, os.Args, append(os.Environ(), "MALLOC_ARENA_MAX=2"))
}
