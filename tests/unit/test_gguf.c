/* GGUF reader tests.
 *
 *   test_gguf                     self-contained unit test: builds small GGUF files here
 *                                 and checks the getters, name mapping and config;
 *   test_gguf info PATH           prints what the reader saw as JSON (exit 1 + message on
 *                                 stderr when the file is refused), for the Python tests;
 *   test_gguf tensor PATH NAME OUT  writes tensor NAME widened to float32, rows in Hugging
 *                                 Face order, as raw little-endian floats to OUT.
 *
 * The row un-permutation here is written from the definition in gguf.h/tensor.h, apart
 * from the library's, so the oracle test checks the reader's metadata, not tensor.c. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hyplora.h"
#include "check.h"


/* ---- info / tensor modes for the Python tests ---------------------------------------- */

static cJSON *num_or_str_u(uint64_t v)
{
    if (v <= (1ull << 53))
        return cJSON_CreateNumber((double)v);
    char b[32];
    snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    return cJSON_CreateString(b);
}

static cJSON *num_or_str_i(int64_t v)
{
    if (v >= -(1ll << 53) && v <= (1ll << 53))
        return cJSON_CreateNumber((double)v);
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)v);
    return cJSON_CreateString(b);
}

static cJSON *str_json(const char *s, size_t n)
{
    char *c = malloc(n + 1);
    memcpy(c, s, n);
    c[n] = 0;
    cJSON *j = cJSON_CreateString(c);
    free(c);
    return j;
}

static cJSON *kv_json(const hp_gguf_kv *kv)
{
    switch (kv->type) {
    case HP_GGUF_UINT8: case HP_GGUF_UINT16: case HP_GGUF_UINT32: case HP_GGUF_UINT64:
        return num_or_str_u(kv->v.u);
    case HP_GGUF_INT8: case HP_GGUF_INT16: case HP_GGUF_INT32: case HP_GGUF_INT64:
        return num_or_str_i(kv->v.i);
    case HP_GGUF_FLOAT32: case HP_GGUF_FLOAT64:
        return cJSON_CreateNumber(kv->v.f);
    case HP_GGUF_BOOL:
        return cJSON_CreateBool(kv->v.b);
    case HP_GGUF_STRING:
        return str_json(kv->str, kv->str_len);
    case HP_GGUF_ARRAY: {
        cJSON *a = cJSON_CreateArray();
        for (uint64_t i = 0; i < kv->arr.count; i++) {
            cJSON *e;
            if (kv->arr.type == HP_GGUF_ARRAY) {
                e = kv_json(&kv->arr.items[i]);
            } else if (kv->arr.type == HP_GGUF_STRING) {
                size_t n;
                const char *s = hp_gguf_arr_str(kv, i, &n);
                e = str_json(s, n);
            } else if (kv->arr.type == HP_GGUF_BOOL) {
                int64_t v = 0;
                hp_gguf_arr_i64(kv, i, &v);
                e = cJSON_CreateBool(v != 0);
            } else if (kv->arr.type == HP_GGUF_FLOAT32 || kv->arr.type == HP_GGUF_FLOAT64) {
                double d = 0;
                hp_gguf_arr_f64(kv, i, &d);
                e = cJSON_CreateNumber(d);
            } else {
                int64_t v;
                if (hp_gguf_arr_i64(kv, i, &v) == 0) {
                    e = num_or_str_i(v);
                } else { /* a uint64 past INT64_MAX */
                    uint64_t u;
                    memcpy(&u, kv->arr.data + 8 * i, 8);
                    e = num_or_str_u(u);
                }
            }
            cJSON_AddItemToArray(a, e);
        }
        return a;
    }
    }
    return cJSON_CreateNull();
}

static int cmd_info(const char *path)
{
    hp_gguf g;
    hp_config c;
    hp_err err = {{0}};
    if (hp_gguf_open(&g, path, 0, &err) != 0) {
        fprintf(stderr, "test_gguf: %s\n", err.msg);
        return 1;
    }
    if (hp_gguf_config(&g, &c, &err) != 0) {
        fprintf(stderr, "test_gguf: %s\n", err.msg);
        hp_gguf_close(&g);
        return 1;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "version", g.version);
    cJSON_AddNumberToObject(root, "alignment", (double)g.alignment);
    cJSON_AddNumberToObject(root, "data_start", (double)g.data_start);
    cJSON_AddStringToObject(root, "architecture", g.architecture);
    cJSON *kvs = cJSON_AddObjectToObject(root, "kvs");
    cJSON *types = cJSON_AddObjectToObject(root, "kv_types");
    for (size_t i = 0; i < g.n_kv; i++) {
        cJSON_AddItemToObject(kvs, g.kvs[i].key, kv_json(&g.kvs[i]));
        cJSON_AddStringToObject(types, g.kvs[i].key, hp_gguf_type_name(g.kvs[i].type));
    }
    cJSON *ts = cJSON_AddArrayToObject(root, "tensors");
    for (size_t i = 0; i < g.n_tensors; i++) {
        const hp_tensor *t = &g.tensors[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", t->name);
        cJSON_AddStringToObject(o, "gguf_name", t->stored_name ? t->stored_name : t->name);
        cJSON_AddStringToObject(o, "dtype", t->dtype_name);
        cJSON *sh = cJSON_AddArrayToObject(o, "shape");
        for (int d = 0; d < t->ndim; d++)
            cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
        cJSON_AddNumberToObject(o, "offset", (double)t->offset);
        cJSON_AddNumberToObject(o, "nbytes", (double)t->nbytes);
        cJSON_AddNumberToObject(o, "permute_heads", t->permute_heads);
        cJSON_AddItemToArray(ts, o);
    }
    cJSON *cj = cJSON_AddObjectToObject(root, "config");
    cJSON_AddStringToObject(cj, "architecture", c.architecture);
    cJSON_AddStringToObject(cj, "model_type", c.model_type);
    cJSON_AddBoolToObject(cj, "forward_supported", c.forward_supported);
    cJSON_AddNumberToObject(cj, "hidden_size", c.hidden_size);
    cJSON_AddNumberToObject(cj, "intermediate_size", c.intermediate_size);
    cJSON_AddNumberToObject(cj, "n_layers", c.n_layers);
    cJSON_AddNumberToObject(cj, "n_heads", c.n_heads);
    cJSON_AddNumberToObject(cj, "n_kv_heads", c.n_kv_heads);
    cJSON_AddNumberToObject(cj, "head_dim", c.head_dim);
    cJSON_AddNumberToObject(cj, "vocab_size", c.vocab_size);
    cJSON_AddNumberToObject(cj, "max_position_embeddings", c.max_position_embeddings);
    cJSON_AddNumberToObject(cj, "rms_norm_eps", c.rms_norm_eps);
    cJSON_AddNumberToObject(cj, "rope_theta", c.rope_theta);
    cJSON_AddBoolToObject(cj, "tie_word_embeddings", c.tie_word_embeddings);
    cJSON_AddBoolToObject(cj, "attention_bias", c.attention_bias);
    cJSON_AddNumberToObject(cj, "bos_token_id", c.bos_token_id);
    cJSON_AddNumberToObject(cj, "eos_token_id", c.eos_token_id);
    char *s = cJSON_Print(root);
    puts(s);
    free(s);
    cJSON_Delete(root);
    hp_gguf_close(&g);
    return 0;
}

static int cmd_tensor(const char *path, const char *name, const char *out)
{
    hp_gguf g;
    hp_err err = {{0}};
    if (hp_gguf_open(&g, path, 0, &err) != 0) {
        fprintf(stderr, "test_gguf: %s\n", err.msg);
        return 1;
    }
    const hp_tensor *t = hp_gguf_tensor(&g, name);
    int rc = 1;
    float *wide = NULL, *hf = NULL;
    if (!t) {
        fprintf(stderr, "test_gguf: %s: no tensor \"%s\"\n", path, name);
        goto out;
    }
    size_t n = (size_t)t->n_elements;
    wide = malloc((n ? n : 1) * sizeof *wide);
    hf = malloc((n ? n : 1) * sizeof *hf);
    if (hp_convert_f32(t->dtype, t->data, wide, n) != 0) {
        fprintf(stderr, "test_gguf: %s: tensor \"%s\" of type %s cannot be widened\n", path, name,
                t->dtype_name);
        goto out;
    }
    /* HF row r = h*hd + s*(hd/2) + i is stored at row h*hd + 2*i + s. */
    int64_t rows = t->ndim == 1 ? t->shape[0] : hp_tensor_rows(t);
    int64_t cols = t->ndim == 1 ? 1 : hp_tensor_cols(t);
    if (t->permute_heads > 0) {
        int64_t hd = rows / t->permute_heads;
        for (int64_t r = 0; r < rows; r++) {
            int64_t h = r / hd, s = (r % hd) / (hd / 2), i = r % (hd / 2);
            int64_t src = h * hd + 2 * i + s;
            memcpy(hf + r * cols, wide + src * cols, (size_t)cols * sizeof *hf);
        }
    } else {
        memcpy(hf, wide, n * sizeof *hf);
    }
    FILE *f = fopen(out, "wb");
    if (!f || fwrite(hf, sizeof *hf, n, f) != n) {
        fprintf(stderr, "test_gguf: cannot write %s\n", out);
        if (f)
            fclose(f);
        goto out;
    }
    fclose(f);
    rc = 0;
out:
    free(wide);
    free(hf);
    hp_gguf_close(&g);
    return rc;
}

/* ---- self-contained unit test ----------------------------------------------------- */

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void put_u32(buf *b, uint32_t v)
{
    unsigned char c[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    put(b, c, 4);
}

static void put_u64(buf *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

static void put_str(buf *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

static void kv_u32(buf *b, const char *k, uint32_t v)
{
    put_str(b, k);
    put_u32(b, HP_GGUF_UINT32);
    put_u32(b, v);
}

static void kv_f32(buf *b, const char *k, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    put_str(b, k);
    put_u32(b, HP_GGUF_FLOAT32);
    put_u32(b, u);
}

static void kv_str(buf *b, const char *k, const char *v)
{
    put_str(b, k);
    put_u32(b, HP_GGUF_STRING);
    put_str(b, v);
}

static void tinfo(buf *b, const char *name, int nd, const uint64_t *dims, uint32_t type, uint64_t off)
{
    put_str(b, name);
    put_u32(b, (uint32_t)nd);
    for (int i = 0; i < nd; i++)
        put_u64(b, dims[i]);
    put_u32(b, type);
    put_u64(b, off);
}

static char tmp_path[256];

static void write_file(const buf *b)
{
    FILE *f = fopen(tmp_path, "wb");
    fwrite(b->p, 1, b->n, f);
    fclose(f);
}

/* A two-layer "llama" with 4 heads of 8 (2 kv heads), all F32, 32 wide, vocab 6. */
static void build_llama(buf *b, const char *arch, bool with_output)
{
    b->n = 0;
    char k[96];
    put(b, "GGUF", 4);
    put_u32(b, 3);
    int nt = 2 + 2 * 2 + (with_output ? 1 : 0);
    put_u64(b, (uint64_t)nt);
    put_u64(b, 11);
    kv_str(b, "general.architecture", arch);
#define AK(s) (snprintf(k, sizeof k, "%s.%s", arch, s), k)
    kv_u32(b, AK("embedding_length"), 32);
    kv_u32(b, AK("block_count"), 2);
    kv_u32(b, AK("feed_forward_length"), 64);
    kv_u32(b, AK("attention.head_count"), 4);
    kv_u32(b, AK("attention.head_count_kv"), 2);
    kv_f32(b, AK("attention.layer_norm_rms_epsilon"), 1e-6f);
    kv_u32(b, AK("context_length"), 128);
    kv_u32(b, "tokenizer.ggml.eos_token_id", 5);
    /* an array of arrays of int16 */
    put_str(b, "test.nested");
    put_u32(b, HP_GGUF_ARRAY);
    put_u32(b, HP_GGUF_ARRAY);
    put_u64(b, 2);
    put_u32(b, HP_GGUF_INT16);
    put_u64(b, 2);
    put(b, "\xff\xff\x02\x00", 4);
    put_u32(b, HP_GGUF_INT16);
    put_u64(b, 0);
    put_str(b, "tokenizer.ggml.tokens");
    put_u32(b, HP_GGUF_ARRAY);
    put_u32(b, HP_GGUF_STRING);
    put_u64(b, 6);
    const char *toks[] = {"a", "", "\xc3\xa9", "d", "ee", "f"};
    for (int i = 0; i < 6; i++)
        put_str(b, toks[i]);
    uint64_t off = 0;
    uint64_t emb[2] = {32, 6}, q[2] = {32, 32}, kk[2] = {32, 16}, norm[1] = {32};
    tinfo(b, "token_embd.weight", 2, emb, 0, off), off += 32 * 6 * 4;
    for (int l = 0; l < 2; l++) {
        char n[64];
        snprintf(n, sizeof n, "blk.%d.attn_q.weight", l);
        tinfo(b, n, 2, q, 0, off), off += 32 * 32 * 4;
        snprintf(n, sizeof n, "blk.%d.attn_k.weight", l);
        tinfo(b, n, 2, kk, 0, off), off += 32 * 16 * 4;
    }
    tinfo(b, "output_norm.weight", 1, norm, 0, off), off += 32 * 4;
    if (with_output)
        tinfo(b, "output.weight", 2, emb, 0, off), off += 32 * 6 * 4;
    while (b->n % 32)
        put(b, "", 1);
    for (uint64_t i = 0; i < off / 4; i++) {
        float f = (float)i;
        put(b, &f, 4);
    }
#undef AK
}

static void unit(void)
{
    snprintf(tmp_path, sizeof tmp_path, "/tmp/test_gguf_%d.gguf", (int)getpid());
    buf b = {0};
    hp_gguf g;
    hp_err err = {{0}};
    hp_config c;

    build_llama(&b, "llama", true);
    write_file(&b);
    CHECK(hp_gguf_open(&g, tmp_path, 3, &err) == 0);
    CHECK(g.version == 3 && g.alignment == 32 && g.data_start % 32 == 0);
    CHECK(strcmp(g.architecture, "llama") == 0);
    CHECK(g.n_kv == 11 && g.n_tensors == 7);

    uint64_t u;
    int64_t i64;
    double d;
    bool bo;
    CHECK(hp_gguf_get_u64(&g, "llama.block_count", &u, &err) == 0 && u == 2);
    CHECK(hp_gguf_get_i64(&g, "llama.block_count", &i64, &err) == 0 && i64 == 2);
    CHECK(hp_gguf_get_f64(&g, "llama.block_count", &d, &err) == 0 && d == 2.0);
    CHECK(hp_gguf_get_f64(&g, "llama.attention.layer_norm_rms_epsilon", &d, &err) == 0 &&
          d == (double)1e-6f);
    CHECK(hp_gguf_get_u64(&g, "llama.attention.layer_norm_rms_epsilon", &u, &err) == -1);
    CHECK(strstr(err.msg, "is a float32, expected an integer") != NULL);
    CHECK(strstr(err.msg, tmp_path) != NULL);
    CHECK(hp_gguf_get_u64(&g, "no.such.key", &u, &err) == -1);
    CHECK(strstr(err.msg, "\"no.such.key\" is missing") != NULL);
    CHECK(hp_gguf_get_bool(&g, "general.architecture", &bo, &err) == -1);
    CHECK(strcmp(hp_gguf_get_str(&g, "general.architecture", &err), "llama") == 0);
    CHECK(hp_gguf_get_str(&g, "llama.block_count", &err) == NULL);
    CHECK(hp_gguf_get_str(&g, "llama.block_count", NULL) == NULL); /* NULL err is allowed */

    const hp_gguf_kv *a = hp_gguf_get_array(&g, "tokenizer.ggml.tokens", HP_GGUF_STRING, &err);
    CHECK(a && a->arr.count == 6);
    size_t len = 99;
    const char *s = a ? hp_gguf_arr_str(a, 2, &len) : NULL;
    CHECK(s && len == 2 && memcmp(s, "\xc3\xa9", 2) == 0);
    CHECK(a && hp_gguf_arr_str(a, 1, &len) && len == 0);
    CHECK(a && hp_gguf_arr_str(a, 6, &len) == NULL);
    CHECK(hp_gguf_get_array(&g, "tokenizer.ggml.tokens", HP_GGUF_FLOAT32, &err) == NULL);
    CHECK(strstr(err.msg, "is an array of string, expected an array of float") != NULL);
    CHECK(hp_gguf_get_array(&g, "llama.block_count", HP_GGUF_INT32, &err) == NULL);
    const hp_gguf_kv *n = hp_gguf_get_array(&g, "test.nested", HP_GGUF_ARRAY, &err);
    CHECK(n && n->arr.count == 2 && n->arr.items[0].arr.count == 2 && n->arr.items[1].arr.count == 0);
    CHECK(n && hp_gguf_arr_i64(&n->arr.items[0], 0, &i64) == 0 && i64 == -1);
    CHECK(n && hp_gguf_arr_i64(&n->arr.items[0], 1, &i64) == 0 && i64 == 2);
    CHECK(n && hp_gguf_arr_f64(&n->arr.items[0], 1, &d) == 0 && d == 2.0);
    CHECK(n && hp_gguf_arr_i64(&n->arr.items[0], 2, &i64) == -1);

    const hp_tensor *t = hp_gguf_tensor(&g, "model.embed_tokens.weight");
    CHECK(t && t->ndim == 2 && t->shape[0] == 6 && t->shape[1] == 32 && t->file == 3);
    CHECK(t && t->dtype == HP_F32 && strcmp(t->dtype_name, "F32") == 0 && t->nbytes == 768);
    CHECK(t && strcmp(t->stored_name, "token_embd.weight") == 0);
    CHECK(t && t->data == g.file.map + t->offset && t->offset == g.data_start);
    CHECK(hp_gguf_tensor(&g, "token_embd.weight") == t);
    t = hp_gguf_tensor(&g, "model.layers.1.self_attn.q_proj.weight");
    CHECK(t && t->permute_heads == 4);
    t = hp_gguf_tensor(&g, "model.layers.0.self_attn.k_proj.weight");
    CHECK(t && t->permute_heads == 2 && t->shape[0] == 16);
    CHECK(hp_gguf_tensor(&g, "model.norm.weight") && hp_gguf_tensor(&g, "lm_head.weight"));

    CHECK(hp_gguf_config(&g, &c, &err) == 0);
    CHECK(strcmp(c.architecture, "LlamaForCausalLM") == 0 && strcmp(c.model_type, "llama") == 0);
    CHECK(c.forward_supported && c.hidden_size == 32 && c.n_layers == 2 && c.n_heads == 4);
    CHECK(c.n_kv_heads == 2 && c.head_dim == 8 && c.vocab_size == 6 && c.intermediate_size == 64);
    CHECK(c.rope_theta == 10000.0 && c.rms_norm_eps == (double)1e-6f);
    CHECK(!c.tie_word_embeddings && !c.attention_bias);
    CHECK(c.bos_token_id == -1 && c.eos_token_id == 5 && c.max_position_embeddings == 128);
    hp_gguf_close(&g);
    hp_gguf_close(&g); /* closing twice is harmless */

    /* qwen2: no permutation; tied embeddings when there is no output.weight */
    build_llama(&b, "qwen2", false);
    write_file(&b);
    CHECK(hp_gguf_open(&g, tmp_path, 0, &err) == 0);
    t = hp_gguf_tensor(&g, "model.layers.0.self_attn.q_proj.weight");
    CHECK(t && t->permute_heads == 0);
    CHECK(hp_gguf_config(&g, &c, &err) == 0);
    CHECK(strcmp(c.architecture, "Qwen2ForCausalLM") == 0 && c.tie_word_embeddings);
    hp_gguf_close(&g);

    /* another architecture: what exists is filled, nothing is required */
    build_llama(&b, "gemma", true);
    write_file(&b);
    CHECK(hp_gguf_open(&g, tmp_path, 0, &err) == 0);
    CHECK(hp_gguf_config(&g, &c, &err) == 0);
    CHECK(!c.forward_supported && strcmp(c.model_type, "gemma") == 0 && c.architecture[0] == 0);
    CHECK(c.hidden_size == 32 && c.n_layers == 2);
    hp_gguf_close(&g);

    /* a version-2 file reads the same */
    build_llama(&b, "llama", true);
    b.p[4] = 2;
    write_file(&b);
    CHECK(hp_gguf_open(&g, tmp_path, 0, &err) == 0 && g.version == 2);
    hp_gguf_close(&g);

    /* every prefix of a valid file is refused cleanly */
    build_llama(&b, "llama", true);
    size_t full = b.n;
    for (size_t cut = 0; cut < full; cut += (cut < 700 ? 1 : 97)) {
        b.n = cut;
        write_file(&b);
        int rc = hp_gguf_open(&g, tmp_path, 0, &err);
        CHECK(rc == -1);
        if (rc == 0)
            hp_gguf_close(&g);
    }

    /* name mapping */
    const char *map[][2] = {
        {"token_embd.weight", "model.embed_tokens.weight"},
        {"output_norm.weight", "model.norm.weight"},
        {"output.weight", "lm_head.weight"},
        {"blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight"},
        {"blk.12.ffn_norm.weight", "model.layers.12.post_attention_layernorm.weight"},
        {"blk.3.attn_q.bias", "model.layers.3.self_attn.q_proj.bias"},
        {"blk.3.attn_output.weight", "model.layers.3.self_attn.o_proj.weight"},
        {"blk.7.ffn_down.weight", "model.layers.7.mlp.down_proj.weight"},
        {"blk.7.ffn_gate.weight", "model.layers.7.mlp.gate_proj.weight"},
        {"blk.7.ffn_up.weight", "model.layers.7.mlp.up_proj.weight"},
        {"blk.07.ffn_up.weight", "blk.07.ffn_up.weight"},
        {"blk.x.ffn_up.weight", "blk.x.ffn_up.weight"},
        {"blk.1.attn_qkv.weight", "blk.1.attn_qkv.weight"},
        {"rope_freqs.weight", "rope_freqs.weight"},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        char *h = hp_gguf_hf_name(map[i][0], &err);
        CHECK(h && strcmp(h, map[i][1]) == 0);
        if (h && strcmp(h, map[i][1]) != 0)
            fprintf(stderr, "  %s -> %s (expected %s)\n", map[i][0], h, map[i][1]);
        free(h);
    }
    free(b.p);
    unlink(tmp_path);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "info") == 0)
        return cmd_info(argv[2]);
    if (argc == 5 && strcmp(argv[1], "tensor") == 0)
        return cmd_tensor(argv[2], argv[3], argv[4]);
    if (argc != 1) {
        fprintf(stderr, "usage: test_gguf [info PATH | tensor PATH NAME OUT]\n");
        return 2;
    }
    unit();
    return check_exit();
}
