/* The peer of bench_mpi.sh: a plain MPI_Allreduce (sum, in place) of N floats, the size a
 * training step sums, timed REPEAT times after one warm-up; rank 0 prints the median
 * seconds and the bandwidth as bytes summed per second (the same measure hyplora's "mpi:"
 * line gives).
 *   mpirun -np 2 allreduce_peer N [REPEAT]
 * Prints "seconds S" and "gb_per_s G". */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    long n = argc > 1 ? atol(argv[1]) : 0, repeat = argc > 2 ? atol(argv[2]) : 20;
    float *x = n > 0 && n < (1L << 31) && repeat > 0 ? calloc((size_t)n, sizeof *x) : NULL;
    double *t = x ? malloc((size_t)repeat * sizeof *t) : NULL;
    if (!t) {
        if (rank == 0)
            fprintf(stderr, "usage: mpirun -np R allreduce_peer N [REPEAT] (N floats below 2^31)\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    for (long i = 0; i < n; i++)
        x[i] = (float)(i % 7);
    MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    for (long r = 0; r < repeat; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        t[r] = MPI_Wtime() - t0;
    }
    qsort(t, (size_t)repeat, sizeof *t, cmp);
    double med = t[repeat / 2];
    if (rank == 0)
        printf("seconds %.6f\ngb_per_s %.4f\n", med, (double)n * sizeof *x / med / 1e9);
    free(t);
    free(x);
    MPI_Finalize();
    return 0;
}
