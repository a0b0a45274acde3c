/* A parallel loop for the library's batch work: workers take chunks of [0, n) in order
 * from a shared counter until none is left. Internal to the library. */
#ifndef HYPLORA_PARALLEL_H
#define HYPLORA_PARALLEL_H

#include <stddef.h>

#include "hyplora/error.h"

/* threads > 0 as given, else the online cores; never more than max_useful (>= 1). */
int hp_threads_resolve(int threads, size_t max_useful);

/* Processes items [begin, end) as worker number `worker` (0 .. n_workers-1: index any
 * per-worker state with it). Returns 0, or -1 after setting err. */
typedef int (*hp_chunk_fn)(void *ctx, int worker, size_t begin, size_t end, hp_err *err);

/* Runs fn over [0, n) in chunks of `chunk` items on n_workers threads (the calling thread
 * is worker 0). After a failure no chunk that starts later begins, but every earlier one
 * still runs, so the error returned is that of the earliest failing chunk whatever the
 * timing. */
int hp_parallel_for(int n_workers, size_t n, size_t chunk, hp_chunk_fn fn, void *ctx,
                    hp_err *err);

#endif
