/* MPI, or one process when there is none (cli/dist.h). */
#include "dist.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#ifdef HYPLORA_MPI
#include <mpi.h>
#endif

dist g_dist = {.rank = 0, .size = 1, .local_size = 1};

#ifdef HYPLORA_MPI
/* The streamed results (dist_put): their own communicator, apart from the collectives'
 * traffic, and the state of both ends. */
static MPI_Comm g_stream = MPI_COMM_NULL;

typedef struct sending {
    MPI_Request req;
    char *buf;
} sending;

static struct {
    sending *out;          /* sends in flight */
    size_t n_out, cap_out;
    uint64_t puts;         /* results put so far */
    uint64_t *taken, *put; /* rank 0: per rank, results taken and (once it is done) put */
    bool *done;
} g_s;

static void stream_free(void)
{
    free(g_s.out), free(g_s.taken), free(g_s.put), free(g_s.done);
}
#endif

/* Whether a launcher (Open MPI's mpirun, MPICH's hydra, Slurm's PMI) started us: without
 * one, MPI_Init would start a singleton runtime for nothing. */
static bool launched(void)
{
    static const char *VARS[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"};
    for (size_t i = 0; i < sizeof VARS / sizeof *VARS; i++)
        if (getenv(VARS[i]))
            return true;
    return false;
}

#ifdef HYPLORA_MPI
static int affinity_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Threads per rank: with mpirun's binding a rank may run on its own cores only; without
 * binding every rank sees all cores, which the ranks of the host share. */
static void set_threads(void)
{
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    int cores = affinity_cores(), share = (int)(online > 0 ? online : 1) / g_dist.local_size;
    if (g_cli.threads == 0) {
        g_cli.threads = cores < share ? cores : share;
        if (g_cli.threads < 1)
            g_cli.threads = 1;
    } else if ((long)g_cli.threads * g_dist.local_size > online && g_dist.rank == 0) {
        cli_note("%d ranks on this host x --threads %d is more than its %ld cores: the ranks will slow each other",
                 g_dist.local_size, g_cli.threads, online);
    }
}
#endif

int dist_init(int *argc, char ***argv)
{
#ifdef HYPLORA_MPI
    if (!launched())
        return 0;
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "hyplora: error: MPI_Init failed\n");
        return -1;
    }
    g_dist.mpi = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_dist.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_dist.size);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_dist.rank, MPI_INFO_NULL, &local);
    MPI_Comm_size(local, &g_dist.local_size);
    MPI_Comm_free(&local);
    MPI_Comm_dup(MPI_COMM_WORLD, &g_stream);
    if (g_dist.rank != 0 && !freopen("/dev/null", "w", stdout)) {
        fprintf(stderr, "hyplora: error: rank %d: cannot send its standard output to /dev/null\n", g_dist.rank);
        return -1;
    }
    set_threads();
#else
    (void)argc, (void)argv;
    if (launched())
        cli_note("this hyplora was built without MPI: under mpirun every rank runs the whole command alone");
#endif
    return 0;
}

const char *dist_library(void)
{
#ifdef HYPLORA_MPI
    static char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int n;
    MPI_Get_library_version(v, &n); /* may be called before MPI_Init */
    v[strcspn(v, ",\n")] = '\0';
    return v;
#else
    return NULL;
#endif
}

int dist_finish(int status)
{
#ifdef HYPLORA_MPI
    if (!g_dist.mpi)
        return status;
    fflush(stdout);
    fflush(stderr);
    /* A failure may be this rank's alone (usage errors and stops happen on every rank
     * alike): leaving without MPI_Finalize makes mpirun stop the others. Not MPI_Abort: it
     * forwards a message through PMIx that Open MPI 4.1's mpirun, already taking the job
     * down, was seen to crash on now and then. */
    if (status == EXIT_FAIL && g_dist.size > 1)
        _exit(status);
    stream_free();
    MPI_Comm_free(&g_stream);
    MPI_Finalize();
#endif
    return status;
}

/* MPI counts are ints: large buffers go in pieces. */
#define PIECE ((size_t)1 << 28)

typedef enum kind { F32, F64, I64 } kind;

/* The in-place sum of n floats, doubles or int64s over the ranks. */
static void sum(void *x, size_t n, kind k)
{
#ifdef HYPLORA_MPI
    if (g_dist.size < 2)
        return;
    static const MPI_Datatype TYPES[] = {MPI_FLOAT, MPI_DOUBLE, MPI_INT64_T};
    size_t size = k == F32 ? sizeof(float) : 8;
    double t0 = MPI_Wtime();
    MPI_Barrier(MPI_COMM_WORLD); /* apart from the sum itself: the wait for the slowest rank */
    double t1 = MPI_Wtime();
    g_dist.waiting += t1 - t0;
    for (size_t i = 0; i < n; i += PIECE)
        MPI_Allreduce(MPI_IN_PLACE, (char *)x + i * size, (int)(n - i < PIECE ? n - i : PIECE),
                      TYPES[k], MPI_SUM, MPI_COMM_WORLD);
    g_dist.seconds += MPI_Wtime() - t1;
    g_dist.bytes += n * size;
#else
    (void)x, (void)n, (void)k;
#endif
}

void dist_sum_f32(float *x, size_t n)
{
    sum(x, n, F32);
}

void dist_sum_f64(double *x, size_t n)
{
    sum(x, n, F64);
}

void dist_sum_i64(int64_t *x, size_t n)
{
    sum(x, n, I64);
}

void dist_bcast(void *buf, size_t bytes)
{
#ifdef HYPLORA_MPI
    if (g_dist.size < 2)
        return;
    double t0 = MPI_Wtime();
    for (size_t i = 0; i < bytes; i += PIECE)
        MPI_Bcast((char *)buf + i, (int)(bytes - i < PIECE ? bytes - i : PIECE), MPI_BYTE, 0, MPI_COMM_WORLD);
    g_dist.seconds += MPI_Wtime() - t0;
#else
    (void)buf, (void)bytes;
#endif
}

uint64_t dist_hash(uint64_t h, const void *buf, size_t bytes)
{
    const unsigned char *p = buf;
    h ^= 1469598103934665603ull; /* FNV-1a, continued from h */
    for (size_t i = 0; i < bytes; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

int dist_check_same(const void *buf, size_t bytes, const char *what, hp_err *err)
{
    if (g_dist.size < 2)
        return 0;
    uint64_t h = dist_hash(0, buf, bytes), root = h;
    dist_bcast(&root, sizeof root);
    if (h != root)
        return hp_fail(err, "%s differ from rank 0's (checksum %016llx, rank 0 has %016llx): every rank must run "
                            "the same hyplora on the same model and data", what, (unsigned long long)h,
                       (unsigned long long)root);
    return 0;
}

/* ---- results streamed to rank 0 ----
 * A result is one message (tag PUT): its 8-byte key, then its bytes. A rank's last message
 * (tag DONE) says how many results it put, so rank 0 knows when it has them all whatever
 * order they arrive in. Sends do not block: each keeps its buffer until MPI is done with
 * it, so a rank decoding its next batch never waits for rank 0 to be free to receive. */

enum { PUT = 1, DONE = 2 };

#ifdef HYPLORA_MPI

static void nap(void)
{
    struct timespec t = {0, 1000000}; /* 1 ms */
    nanosleep(&t, NULL);
}

/* Frees the buffers of finished sends; with `all`, waits until every send is finished. */
static void reap(bool all)
{
    do {
        size_t kept = 0;
        for (size_t i = 0; i < g_s.n_out; i++) {
            int finished;
            MPI_Test(&g_s.out[i].req, &finished, MPI_STATUS_IGNORE);
            if (finished)
                free(g_s.out[i].buf);
            else
                g_s.out[kept++] = g_s.out[i];
        }
        g_s.n_out = kept;
        if (all && kept)
            nap();
    } while (all && g_s.n_out);
}

/* Receives the message `st` announces: a result for take, or a rank's last word. */
static int receive(const MPI_Status *st, dist_take_fn take, void *ctx, hp_err *err)
{
    int n, src = st->MPI_SOURCE;
    MPI_Get_count(st, MPI_BYTE, &n);
    char *buf = hp_malloc(n > 0 ? (size_t)n : 1, "a result from another rank", err);
    if (!buf)
        return -1;
    MPI_Recv(buf, n, MPI_BYTE, src, st->MPI_TAG, g_stream, MPI_STATUS_IGNORE);
    int rc = 0;
    if (n < 8) {
        rc = hp_fail(err, "a message of %d bytes from rank %d is too short", n, src);
    } else if (st->MPI_TAG == DONE) {
        memcpy(&g_s.put[src], buf, 8);
        g_s.done[src] = true;
    } else {
        uint64_t key;
        memcpy(&key, buf, 8);
        g_s.taken[src]++;
        rc = take(key, buf + 8, (size_t)n - 8, ctx, err);
    }
    free(buf);
    return rc;
}

/* Takes every message that has arrived, without waiting; *any says whether one had. */
static int take_arrived(dist_take_fn take, void *ctx, bool *any, hp_err *err)
{
    *any = false;
    for (;;) {
        int arrived;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, g_stream, &arrived, &st);
        if (!arrived)
            return 0;
        *any = true;
        if (receive(&st, take, ctx, err))
            return -1;
    }
}

static int stream_begin(hp_err *err)
{
    if (g_s.taken)
        return 0;
    size_t n = (size_t)g_dist.size;
    g_s.taken = hp_calloc(n, sizeof *g_s.taken, "the streamed results", err);
    g_s.put = hp_calloc(n, sizeof *g_s.put, "the streamed results", err);
    g_s.done = hp_calloc(n, sizeof *g_s.done, "the streamed results", err);
    return g_s.taken && g_s.put && g_s.done ? 0 : -1;
}
#endif

int dist_put(uint64_t key, const void *bytes, size_t n, hp_err *err)
{
#ifdef HYPLORA_MPI
    if (g_dist.size < 2)
        return 0;
    if (n > (size_t)0x7fffffff - 8)
        return hp_fail(err, "a result of %zu bytes is too large to send", n);
    reap(false);
    char *buf = hp_malloc(n + 8, "a result to send", err);
    if (!buf || hp_grow((void **)&g_s.out, &g_s.cap_out, g_s.n_out + 1, sizeof *g_s.out, "the sends", err))
        return free(buf), -1;
    memcpy(buf, &key, 8);
    memcpy(buf + 8, bytes, n);
    sending *s = &g_s.out[g_s.n_out++];
    s->buf = buf;
    MPI_Isend(buf, (int)(n + 8), MPI_BYTE, 0, PUT, g_stream, &s->req);
    g_s.puts++;
#else
    (void)key, (void)bytes, (void)n, (void)err;
#endif
    return 0;
}

int dist_poll(dist_take_fn take, void *ctx, hp_err *err)
{
#ifdef HYPLORA_MPI
    bool any;
    if (g_dist.size < 2 || g_dist.rank != 0)
        return 0;
    return stream_begin(err) || take_arrived(take, ctx, &any, err) ? -1 : 0;
#else
    (void)take, (void)ctx, (void)err;
    return 0;
#endif
}

int dist_drain(dist_take_fn take, void *ctx, hp_err *err)
{
#ifdef HYPLORA_MPI
    if (g_dist.size < 2)
        return 0;
    if (g_dist.rank != 0) {
        reap(true);
        uint64_t puts = g_s.puts;
        g_s.puts = 0;
        MPI_Send(&puts, 8, MPI_BYTE, 0, DONE, g_stream);
        return 0;
    }
    if (stream_begin(err))
        return -1;
    for (int r = 1; r < g_dist.size;) {
        bool any;
        if (g_s.done[r] && g_s.taken[r] == g_s.put[r])
            r++;
        else if (take_arrived(take, ctx, &any, err))
            return -1;
        else if (!any)
            nap();
    }
    memset(g_s.taken, 0, (size_t)g_dist.size * sizeof *g_s.taken);
    memset(g_s.done, 0, (size_t)g_dist.size * sizeof *g_s.done);
    return 0;
#else
    (void)take, (void)ctx, (void)err;
    return 0;
#endif
}
