/* Runs the forward pass of a model (float32 weights, every activation kept) on a batch and
 * the backward pass of one layer, for tests/oracle/test_backward.py:
 *
 *   backward_dump MODEL LAYER T LENGTHS TOKENS DIR
 *
 * LENGTHS: comma-separated, one per sequence (B of them); TOKENS: B*T comma-separated ids
 * (padding positions included, ignored). DIR/dx_out.f32 holds [B*T, hidden], the gradient
 * at the layer's output. Writes DIR/dx_in.f32 and, for every weight of the layer, its
 * gradient as DIR/<Hugging Face name>.f32 (row-major, the tensor's shape). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora.h"

static size_t parse_ints(const char *s, long *out, size_t cap)
{
    size_t n = 0;
    char *end;
    while (*s && n < cap) {
        out[n++] = strtol(s, &end, 10);
        if (end == s)
            return 0;
        s = *end == ',' ? end + 1 : end;
    }
    return n;
}

static int save(const char *dir, const char *name, const float *p, size_t n)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.f32", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, sizeof *p, n, f) != n || fclose(f)) {
        fprintf(stderr, "backward_dump: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fputs("usage: backward_dump MODEL LAYER T LENGTHS TOKENS DIR\n", stderr);
        return 2;
    }
    int layer = atoi(argv[2]), T = atoi(argv[3]);
    long lens[64], toks[65536];
    int B = (int)parse_ints(argv[4], lens, 64);
    size_t nt = parse_ints(argv[5], toks, 65536);
    if (B == 0 || T <= 0 || nt != (size_t)B * T) {
        fputs("backward_dump: LENGTHS and TOKENS do not fit B x T\n", stderr);
        return 2;
    }
    const char *dir = argv[6];
    hp_err err = {{0}};
    hp_model *m = hp_model_open(argv[1], &err);
    hp_fwd_options o = {.weights = HP_FWD_WEIGHTS_F32};
    hp_fwd_model *fm = m ? hp_fwd_load(m, &o, &err) : NULL;
    hp_fwd_acts *acts = fm ? hp_fwd_acts_new(fm, B, T, true, &err) : NULL;
    hp_bwd_work *w = acts ? hp_bwd_work_new(fm, B, T, &err) : NULL;
    if (!w) {
        fprintf(stderr, "backward_dump: %s\n", err.msg);
        return 1;
    }
    const hp_config *c = &fm->config;
    size_t n = (size_t)B * T, d = (size_t)c->hidden_size, f = (size_t)c->intermediate_size;
    size_t qd = (size_t)c->n_heads * c->head_dim, kvd = (size_t)c->n_kv_heads * c->head_dim;
    int32_t *tokens = malloc(n * sizeof *tokens);
    int lengths[64];
    for (size_t i = 0; i < n; i++)
        tokens[i] = (int32_t)toks[i];
    for (int b = 0; b < B; b++)
        lengths[b] = (int)lens[b];
    float *dx = malloc(n * d * sizeof *dx);
    char path[4200];
    snprintf(path, sizeof path, "%s/dx_out.f32", dir);
    FILE *fp = fopen(path, "rb");
    if (!fp || fread(dx, sizeof *dx, n * d, fp) != n * d) {
        fprintf(stderr, "backward_dump: cannot read %zu floats of %s\n", n * d, path);
        return 1;
    }
    fclose(fp);
    typedef struct grad_slot {
        const char *name;
        size_t size;
        float **slot;
        bool present;
    } grad_slot;
    grad_slot grads[12];
    hp_bwd_layer_grads g = {0};
    const hp_fwd_layer *L = &fm->layers[layer];
    size_t k = 0;
#define GRAD(NAME, SIZE, SLOT, PRESENT) grads[k++] = (grad_slot){NAME, SIZE, &g.SLOT, PRESENT}
    GRAD("input_layernorm.weight", d, attn_norm, true);
    GRAD("post_attention_layernorm.weight", d, mlp_norm, true);
    GRAD("self_attn.q_proj.weight", qd * d, wq, true);
    GRAD("self_attn.k_proj.weight", kvd * d, wk, true);
    GRAD("self_attn.v_proj.weight", kvd * d, wv, true);
    GRAD("self_attn.o_proj.weight", d * qd, wo, true);
    GRAD("self_attn.q_proj.bias", qd, bq, L->bq != NULL);
    GRAD("self_attn.k_proj.bias", kvd, bk, L->bk != NULL);
    GRAD("self_attn.v_proj.bias", kvd, bv, L->bv != NULL);
    GRAD("mlp.gate_proj.weight", f * d, w_gate, true);
    GRAD("mlp.up_proj.weight", f * d, w_up, true);
    GRAD("mlp.down_proj.weight", d * f, w_down, true);
#undef GRAD
    for (size_t i = 0; i < k; i++)
        if (grads[i].present)
            *grads[i].slot = calloc(grads[i].size, sizeof(float));
    /* dx_in written over dx_out: the aliasing the header allows */
    if (hp_fwd_run(fm, acts, NULL, tokens, lengths, B, T, NULL, NULL, &err) ||
        hp_bwd_layer(fm, layer, acts, lengths, B, T, dx, dx, &g, w, &err)) {
        fprintf(stderr, "backward_dump: %s\n", err.msg);
        return 1;
    }
    if (save(dir, "dx_in", dx, n * d))
        return 1;
    for (size_t i = 0; i < k; i++) {
        char name[256];
        snprintf(name, sizeof name, "model.layers.%d.%s", layer, grads[i].name);
        if (grads[i].present && save(dir, name, *grads[i].slot, grads[i].size))
            return 1;
        free(*grads[i].slot);
    }
    free(tokens);
    free(dx);
    hp_bwd_work_free(w);
    hp_fwd_acts_free(acts);
    hp_fwd_free(fm);
    hp_model_close(m);
    return 0;
}
