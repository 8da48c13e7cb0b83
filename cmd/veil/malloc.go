package main

/*
#include <malloc.h>
*/
import "C"

// limitMallocArenas caps glibc's malloc arenas at two. OpenCV's worker
// threads each get an arena by default, and their fragmentation made the
// gateway's RSS creep (294 -> 415 MB over 5 minutes of 720p; with two
// arenas it stays at 313-331 MB: veil bench, rss_samples_mb). Called
// first thing in main, before OpenCV starts threads.
func limitMallocArenas() { C.mallopt(C.M_ARENA_MAX, 2) }
