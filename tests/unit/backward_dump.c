/* Runs the forward pass of a model (float32 weights, every activation kept) on a batch and
 * then a backward pass, for tests/oracle/test_backward.py:
 *
 *   backward_dump MODEL layer L T LENGTHS TOKENS DIR
 *       the backward pass of layer L from DIR/dx_out.f32 ([B*T, hidden], the gradient at
 *       its output); writes DIR/dx_in.f32 and every weight gradient of the layer;
 *   backward_dump MODEL loss LOWEST T LENGTHS TOKENS TARGETS DIR
 *       the mean cross-entropy over the targets (-1: none) and its backward pass down to
 *       layer LOWEST; prints the loss and the number of targets, and writes the gradient of
 *       every weight it reaches (the embedding when LOWEST is 0, the head when untied).
 *       When DIR/adapters.txt exists the weights are frozen and adapters are trained
 *       instead: one line per adapter, "LAYER MODULE lora|hyplora consistent|released RANK
 *       SCALING K S" (MODULE 0..6: q k v o gate up down), with its matrices in
 *       DIR/L.M.A.f32 [RANK, in] and DIR/L.M.B.f32 [out, RANK]; the gradients go to
 *       DIR/L.M.dA.f32, DIR/L.M.dB.f32 and DIR/L.M.dks.f32 (dk, ds).
 *
 * LENGTHS: comma-separated, one per sequence (B of them); TOKENS and TARGETS: B*T comma-
 * separated ids (padding positions included). Gradients go to DIR/<Hugging Face name>.f32,
 * row-major in the tensor's shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump_files.h"
#include "hyplora.h"

enum { MAX_B = 64, MAX_TOKENS = 65536 };

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
    char file[300];
    snprintf(file, sizeof file, "%s.f32", name);
    dump_write(dir, file, p, n * sizeof *p);
    return 0;
}

/* One weight gradient: its name, its size, and where hp_bwd_*_grads points to it. */
typedef struct grad_slot {
    char name[128];
    size_t size;
    float **slot;
} grad_slot;

static float *read_f32(const char *dir, const char *name, size_t n)
{
    return dump_read(dir, name, n * sizeof(float));
}

/* The adapters of DIR/adapters.txt, attached to the model's layers; their count. */
typedef struct adapter_slot {
    hp_adapter a;
    int layer, module;
    float k, s, dk, ds;
} adapter_slot;

static size_t load_adapters(hp_fwd_model *fm, const char *dir, adapter_slot *slots, size_t cap)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/adapters.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = 0;
    char method[16], form[16];
    adapter_slot *s = slots;
    while (n < cap && fscanf(f, "%d %d %15s %15s %d %f %f %f", &s->layer, &s->module, method, form, &s->a.rank,
                             &s->a.scaling, &s->k, &s->s) == 8) {
        hp_adapter *a = &s->a;
        if (s->layer < 0 || s->layer >= fm->config.n_layers || hp_module_shape(&fm->config, s->module, &a->in, &a->out)) {
            fprintf(stderr, "backward_dump: bad adapter line %zu\n", n + 1);
            exit(2);
        }
        a->method = strcmp(method, "hyplora") ? HP_ADAPTER_LORA : HP_ADAPTER_HYPLORA;
        a->form = strcmp(form, "released") ? HP_HYP_CONSISTENT : HP_HYP_RELEASED;
        char name[64];
        snprintf(name, sizeof name, "%d.%d.A.f32", s->layer, s->module);
        a->A = read_f32(dir, name, (size_t)a->rank * a->in);
        snprintf(name, sizeof name, "%d.%d.B.f32", s->layer, s->module);
        a->B = read_f32(dir, name, (size_t)a->out * a->rank);
        a->dA = calloc((size_t)a->rank * a->in, sizeof(float));
        a->dB = calloc((size_t)a->out * a->rank, sizeof(float));
        a->k = &s->k, a->s = &s->s, a->dk = &s->dk, a->ds = &s->ds;
        fm->layers[s->layer].adapter[s->module] = a;
        n++, s++;
    }
    fclose(f);
    return n;
}

static int save_adapters(const char *dir, adapter_slot *slots, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        hp_adapter *a = &slots[i].a;
        char name[64];
        snprintf(name, sizeof name, "%d.%d.dA", slots[i].layer, slots[i].module);
        if (save(dir, name, a->dA, (size_t)a->rank * a->in))
            return -1;
        snprintf(name, sizeof name, "%d.%d.dB", slots[i].layer, slots[i].module);
        if (save(dir, name, a->dB, (size_t)a->out * a->rank))
            return -1;
        float dks[2] = {slots[i].dk, slots[i].ds};
        snprintf(name, sizeof name, "%d.%d.dks", slots[i].layer, slots[i].module);
        if (save(dir, name, dks, 2))
            return -1;
        free(a->A), free(a->B), free(a->dA), free(a->dB);
    }
    return 0;
}

static size_t layer_slots(const hp_fwd_model *fm, int l, hp_bwd_layer_grads *g, grad_slot *out)
{
    const hp_config *c = &fm->config;
    size_t d = (size_t)c->hidden_size, f = (size_t)c->intermediate_size;
    size_t qd = (size_t)c->n_heads * c->head_dim, kvd = (size_t)c->n_kv_heads * c->head_dim;
    const hp_fwd_layer *L = &fm->layers[l];
    struct {
        const char *name;
        size_t size;
        float **slot;
        bool present;
    } all[] = {
        {"input_layernorm.weight", d, &g->attn_norm, true},
        {"post_attention_layernorm.weight", d, &g->mlp_norm, true},
        {"self_attn.q_proj.weight", qd * d, &g->wq, true},
        {"self_attn.k_proj.weight", kvd * d, &g->wk, true},
        {"self_attn.v_proj.weight", kvd * d, &g->wv, true},
        {"self_attn.o_proj.weight", d * qd, &g->wo, true},
        {"self_attn.q_proj.bias", qd, &g->bq, L->bq != NULL},
        {"self_attn.k_proj.bias", kvd, &g->bk, L->bk != NULL},
        {"self_attn.v_proj.bias", kvd, &g->bv, L->bv != NULL},
        {"mlp.gate_proj.weight", f * d, &g->w_gate, true},
        {"mlp.up_proj.weight", f * d, &g->w_up, true},
        {"mlp.down_proj.weight", d * f, &g->w_down, true},
    };
    size_t k = 0;
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if (all[i].present) {
            snprintf(out[k].name, sizeof out[k].name, "model.layers.%d.%s", l, all[i].name);
            out[k].size = all[i].size;
            out[k].slot = all[i].slot;
            k++;
        }
    return k;
}

int main(int argc, char **argv)
{
    bool loss_mode = argc == 9 && strcmp(argv[2], "loss") == 0;
    if (!loss_mode && !(argc == 8 && strcmp(argv[2], "layer") == 0)) {
        fputs("usage: backward_dump MODEL layer L T LENGTHS TOKENS DIR\n"
              "       backward_dump MODEL loss LOWEST T LENGTHS TOKENS TARGETS DIR\n",
              stderr);
        return 2;
    }
    int index = atoi(argv[3]), T = atoi(argv[4]);
    static long lens[MAX_B], toks[MAX_TOKENS], tgts[MAX_TOKENS];
    int B = (int)parse_ints(argv[5], lens, MAX_B);
    size_t nt = parse_ints(argv[6], toks, MAX_TOKENS);
    size_t ng = loss_mode ? parse_ints(argv[7], tgts, MAX_TOKENS) : nt;
    if (B == 0 || T <= 0 || nt != (size_t)B * T || ng != nt) {
        fputs("backward_dump: LENGTHS, TOKENS and TARGETS do not fit B x T\n", stderr);
        return 2;
    }
    const char *dir = argv[argc - 1];
    hp_err err = {{0}};
    hp_model *m = hp_model_open(argv[1], &err);
    hp_fwd_options o = {.weights = HP_FWD_WEIGHTS_F32};
    hp_fwd_model *fm = m ? hp_fwd_load(m, &o, &err) : NULL;
    static adapter_slot adapters[64 * HP_N_MODULES];
    size_t n_adapters = fm && loss_mode ? load_adapters(fm, argv[argc - 1], adapters, 64 * HP_N_MODULES) : 0;
    hp_fwd_acts *acts = fm ? hp_fwd_acts_new(fm, B, T, true, &err) : NULL;
    hp_bwd_work *w = acts ? hp_bwd_work_new(fm, B, T, &err) : NULL;
    if (!w) {
        fprintf(stderr, "backward_dump: %s\n", err.msg);
        return 1;
    }
    const hp_config *c = &fm->config;
    size_t n = (size_t)B * T, d = (size_t)c->hidden_size, V = (size_t)c->vocab_size;
    int32_t *tokens = malloc(n * sizeof *tokens), *targets = malloc(n * sizeof *targets);
    int lengths[MAX_B];
    for (size_t i = 0; i < n; i++)
        tokens[i] = (int32_t)toks[i], targets[i] = (int32_t)tgts[i];
    for (int b = 0; b < B; b++)
        lengths[b] = (int)lens[b];

    /* every gradient the run can reach */
    hp_bwd_layer_grads *lg = calloc((size_t)c->n_layers, sizeof *lg);
    hp_bwd_model_grads mg = {.layers = lg};
    grad_slot *slots = calloc((size_t)c->n_layers * 12 + 3, sizeof *slots);
    size_t k = 0;
    for (int l = index; l < (loss_mode ? c->n_layers : index + 1) && !n_adapters; l++)
        k += layer_slots(fm, l, &lg[l], slots + k);
    if (loss_mode && !n_adapters) {
        slots[k++] = (grad_slot){"model.norm.weight", d, &mg.final_norm};
        if (index == 0 || fm->tied)
            slots[k++] = (grad_slot){"model.embed_tokens.weight", V * d, &mg.embedding};
        if (!fm->tied)
            slots[k++] = (grad_slot){"lm_head.weight", V * d, &mg.lm_head};
    }
    for (size_t i = 0; i < k; i++)
        *slots[i].slot = calloc(slots[i].size, sizeof(float));

    int rc = hp_fwd_run(fm, acts, NULL, tokens, lengths, B, T, NULL, NULL, &err);
    float *dx = NULL;
    if (rc == 0 && loss_mode) {
        double loss;
        size_t count;
        rc = hp_bwd_loss(fm, acts, tokens, targets, lengths, B, T, index, n_adapters ? NULL : &mg, w, &loss,
                         &count, &err);
        if (rc == 0)
            printf("loss %.17g targets %zu\n", loss, count);
    } else if (rc == 0) {
        dx = read_f32(dir, "dx_out.f32", n * d);
        /* dx_in written over dx_out: the aliasing the header allows */
        rc = hp_bwd_layer(fm, index, acts, lengths, B, T, dx, dx, &lg[index], w, &err);
        if (rc == 0 && save(dir, "dx_in", dx, n * d))
            return 1;
    }
    if (rc) {
        fprintf(stderr, "backward_dump: %s\n", err.msg);
        return 1;
    }
    for (size_t i = 0; i < k; i++) {
        if (save(dir, slots[i].name, *slots[i].slot, slots[i].size))
            return 1;
        free(*slots[i].slot);
    }
    if (save_adapters(dir, adapters, n_adapters))
        return 1;
    free(slots), free(lg), free(dx), free(tokens), free(targets);
    hp_bwd_work_free(w);
    hp_fwd_acts_free(acts);
    hp_fwd_free(fm);
    hp_model_close(m);
    return 0;
}
