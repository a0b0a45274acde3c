/* Runs one adapted module of hyplora/adapter.h forward and backward on inputs written by
 * tests/oracle/test_adapter.py, for its PyTorch reference:
 *
 *   adapter_dump DIR lora|hyplora consistent|released N IN OUT RANK SCALING DROPOUT
 *
 * DIR holds raw little-endian files: x.f32 [N, IN], A.f32 [RANK, IN], B.f32 [OUT, RANK],
 * h0.f32 [N, OUT] (the frozen layer's output), dh.f32 [N, OUT] (the loss gradient at h),
 * ks.f64 (k, s), and keep.u8 [N, IN] when DROPOUT > 0. It writes h.f32 (h0 + the update),
 * dA.f32, dB.f32, dx.f32 and dks.f64 (dk, ds). The backward pass runs twice on the same
 * batch, so the files hold twice the gradients: accumulation, not assignment, is checked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump_files.h"
#include "hyplora.h"

static char dir[4096];

static void *load(const char *name, size_t bytes)
{
    return dump_read(dir, name, bytes);
}

static void save(const char *name, const void *p, size_t bytes)
{
    dump_write(dir, name, p, bytes);
}

int main(int argc, char **argv)
{
    if (argc != 10) {
        fputs("usage: adapter_dump DIR lora|hyplora consistent|released N IN OUT RANK SCALING DROPOUT\n", stderr);
        return 2;
    }
    snprintf(dir, sizeof dir, "%s", argv[1]);
    hp_adapter a = {0};
    a.method = strcmp(argv[2], "hyplora") ? HP_ADAPTER_LORA : HP_ADAPTER_HYPLORA;
    a.form = strcmp(argv[3], "released") ? HP_HYP_CONSISTENT : HP_HYP_RELEASED;
    int N = atoi(argv[4]);
    a.in = atoi(argv[5]), a.out = atoi(argv[6]), a.rank = atoi(argv[7]);
    a.scaling = strtof(argv[8], NULL);
    a.dropout = strtof(argv[9], NULL);
    size_t in = (size_t)a.in, out = (size_t)a.out, r = (size_t)a.rank, n = (size_t)N;
    float *x = load("x.f32", n * in * 4), *h = load("h0.f32", n * out * 4), *dh = load("dh.f32", n * out * 4);
    a.A = load("A.f32", r * in * 4);
    a.B = load("B.f32", out * r * 4);
    double *ks = load("ks.f64", 16);
    float k = (float)ks[0], s = (float)ks[1], dks[2] = {0, 0};
    a.k = &k, a.s = &s, a.dk = &dks[0], a.ds = &dks[1];
    a.dA = calloc(r * in, sizeof(float)), a.dB = calloc(out * r, sizeof(float));
    uint8_t *keep = a.dropout > 0 ? load("keep.u8", n * in) : NULL;
    float *dx = calloc(n * in, sizeof *dx);
    hp_adapter_cache c;
    hp_err err = {{0}};
    if (hp_adapter_cache_init(&c, &a, N, &err) || hp_adapter_forward(&a, x, N, keep, &c, h, out, &err) ||
        hp_adapter_backward(&a, &c, dh, out, N, keep, dx, &err) ||
        hp_adapter_backward(&a, &c, dh, out, N, keep, dx, &err)) {
        fprintf(stderr, "adapter_dump: %s\n", err.msg);
        return 1;
    }
    double out_ks[2] = {dks[0], dks[1]};
    save("h.f32", h, n * out * 4);
    save("dA.f32", a.dA, r * in * 4);
    save("dB.f32", a.dB, out * r * 4);
    save("dx.f32", dx, n * in * 4);
    save("dks.f64", out_ks, 16);
    hp_adapter_cache_free(&c);
    free(x), free(h), free(dh), free(a.A), free(a.B), free(ks), free(keep), free(dx), free(a.dA), free(a.dB);
    return 0;
}
