package cephconn

// librados and librbd malloc a buffer per object-sized I/O (4 MiB) on
// whichever of their many threads handles it. With glibc's defaults each
// thread's arena keeps the freed buffers, so the process grows to hundreds of
// MiB whatever the engine's in-flight bound; mapping every buffer instead (a
// low mmap threshold) bounds memory but halves throughput on page faults.
// One arena and a fixed threshold above the buffer size keep both (make
// bench, figures 1 and 5). It runs as a constructor, before the Go runtime
// starts threads that would each get an arena first.

/*
#include <malloc.h>

__attribute__((constructor)) static void cephbackup_tune_malloc(void) {
	mallopt(M_ARENA_MAX, 1);
	mallopt(M_MMAP_THRESHOLD, 16 << 20);
}
*/
import "C"
