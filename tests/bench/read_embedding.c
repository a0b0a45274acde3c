/* Benchmark driver: open a model, read its input embedding to float32 through the
 * library's streamed reader, and print seconds, peak RSS and a checksum that the peer
 * (numpy) computes too. Usage: read_embedding MODEL */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_timing.h"

#include "hyplora.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: read_embedding MODEL\n");
        return 2;
    }
    hp_err err;
    double t0 = bench_now();
    hp_model *m = hp_model_open(argv[1], &err);
    const hp_tensor *t = m ? hp_model_embedding(m, &err) : NULL;
    if (!t) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    size_t n = (size_t)(hp_tensor_rows(t) * hp_tensor_cols(t));
    float *x = malloc(n * sizeof *x);
    if (!x || hp_model_read_f32(m, t, x, NULL, &err) != 0) {
        fprintf(stderr, "%s\n", x ? err.msg : "out of memory");
        return 1;
    }
    double secs = bench_now() - t0, sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += x[i];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%.3f %ld %.10e\n", secs, ru.ru_maxrss / 1024, sum);
    free(x);
    hp_model_close(m);
    return 0;
}
