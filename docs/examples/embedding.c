#include <stdio.h>
#include <stdlib.h>

#include <hyplora.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL\n", argv[0]);
        return 2;
    }
    hp_err err;
    hp_model *m = hp_model_open(argv[1], &err);
    if (!m) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const hp_tensor *emb = hp_model_embedding(m, &err);
    float *rows = emb ? malloc(sizeof(float) * (size_t)(hp_tensor_rows(emb) * hp_tensor_cols(emb))) : NULL;
    if (!rows || hp_model_read_f32(m, emb, rows, NULL, &err) != 0) {
        fprintf(stderr, "%s\n", emb ? err.msg : "out of memory");
        hp_model_close(m);
        return 1;
    }
    double sum = 0;
    for (int64_t j = 0; j < hp_tensor_cols(emb); j++)
        sum += (double)rows[j] * rows[j];
    printf("%s: %lld x %lld %s, |row 0|^2 = %.6f\n", emb->name, (long long)hp_tensor_rows(emb),
           (long long)hp_tensor_cols(emb), emb->dtype_name, sum);
    free(rows);
    hp_model_close(m);
    return 0;
}
