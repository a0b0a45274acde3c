/* MPI, or one process when there is none (cli/dist.h). */
#include "dist.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#ifdef HYPLORA_MPI
#include <mpi.h>
#endif

dist g_dist = {.rank = 0, .size = 1, .local_size = 1};

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
    MPI_Finalize();
#endif
    return status;
}

/* MPI counts are ints: large buffers go in pieces. */
#define PIECE ((size_t)1 << 28)

/* The in-place sum of n floats or doubles over the ranks. */
static void sum(void *x, size_t n, bool f64)
{
#ifdef HYPLORA_MPI
    if (g_dist.size < 2)
        return;
    size_t size = f64 ? sizeof(double) : sizeof(float);
    double t0 = MPI_Wtime();
    MPI_Barrier(MPI_COMM_WORLD); /* apart from the sum itself: the wait for the slowest rank */
    double t1 = MPI_Wtime();
    g_dist.waiting += t1 - t0;
    for (size_t i = 0; i < n; i += PIECE)
        MPI_Allreduce(MPI_IN_PLACE, (char *)x + i * size, (int)(n - i < PIECE ? n - i : PIECE),
                      f64 ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    g_dist.seconds += MPI_Wtime() - t1;
    g_dist.bytes += n * size;
#else
    (void)x, (void)n, (void)f64;
#endif
}

void dist_sum_f32(float *x, size_t n)
{
    sum(x, n, false);
}

void dist_sum_f64(double *x, size_t n)
{
    sum(x, n, true);
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
