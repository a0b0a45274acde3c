/* Data-parallel runs over MPI (docs/distributed.md): which rank of an mpirun job this
 * process is, and the few collectives the commands use. The binary is built with MPI when
 * meson finds it; started without mpirun (or built without MPI) a process is rank 0 of 1
 * and every collective leaves its data as it is, so each command has one code path. */
#ifndef HYPLORA_DIST_H
#define HYPLORA_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyplora.h"

typedef struct dist {
    int rank, size;       /* 0 of 1 without mpirun */
    int local_size;       /* the ranks on this host */
    bool mpi;             /* MPI_Init was called */
    double seconds;       /* wall time spent in collectives, apart from waiting */
    double waiting;       /* wall time waiting for the slowest rank before a sum */
    uint64_t bytes;       /* bytes summed by dist_sum_* */
} dist;

extern dist g_dist;

/* Joins the mpirun job this process was started by, if any (MPI_Init), and sets the
 * threads per rank when --threads was not given: the cores this rank may run on, shared
 * among the ranks of its host. Non-zero ranks print nothing on stdout. Returns 0, or -1
 * after printing why. */
int dist_init(int *argc, char ***argv);

/* The MPI library this binary was built with ("Open MPI v4.1.4"), NULL without. */
const char *dist_library(void);

/* Ends the job with a command's exit status: MPI_Finalize, or after a failure (EXIT_FAIL)
 * in a job of several ranks an exit without it, on which mpirun stops the other ranks, so
 * none waits forever for one that stopped.
 * Returns status. */
int dist_finish(int status);

/* In-place sums over the ranks (MPI_Allreduce). A result that one rank computed and the
 * others left at 0 arrives exactly: how the analyses gather their shares. */
void dist_sum_f32(float *x, size_t n);
void dist_sum_f64(double *x, size_t n);
void dist_sum_i64(int64_t *x, size_t n);

/* Rank 0's bytes to every rank (MPI_Bcast). */
void dist_bcast(void *buf, size_t bytes);

/* A 64-bit checksum of bytes (FNV-1a), continuing from h (0 to start). */
uint64_t dist_hash(uint64_t h, const void *buf, size_t bytes);

/* Checks that buf holds the same bytes on every rank as on rank 0 (a checksum broadcast);
 * `what` names it in the error. */
int dist_check_same(const void *buf, size_t bytes, const char *what, hp_err *err);

/* ---- results streamed to rank 0 ----
 * For work whose items finish one by one at their own pace (eval's outputs), so that rank 0
 * keeps a record of every finished item as it happens: the other ranks dist_put each
 * result; rank 0 takes what has arrived whenever it calls dist_poll; at the end every rank
 * calls dist_drain, which returns on rank 0 once it has taken every result put anywhere. */

/* Called on rank 0 with each result: its key and bytes (valid during the call only).
 * Returns 0, or -1 after setting err. */
typedef int (*dist_take_fn)(uint64_t key, const char *bytes, size_t n, void *ctx, hp_err *err);

/* Sends a result to rank 0 (ranks other than 0; the bytes are copied). */
int dist_put(uint64_t key, const void *bytes, size_t n, hp_err *err);

/* Rank 0: takes every result that has arrived, without waiting. */
int dist_poll(dist_take_fn take, void *ctx, hp_err *err);

/* Every rank, after its last dist_put: rank 0 takes results until every other rank has
 * sent all of its own. Waits without spinning a core. */
int dist_drain(dist_take_fn take, void *ctx, hp_err *err);

/* Whether item i of a list split over the ranks is this rank's (round robin). */
static inline bool dist_mine(size_t i)
{
    return (int)(i % (size_t)g_dist.size) == g_dist.rank;
}

#endif
