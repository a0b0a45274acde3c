/* GGUF: the input is one .gguf file. hp_gguf_open, then every KV is walked (scalars,
 * strings, every array element through the hp_gguf_arr_* accessors, nested arrays),
 * every typed getter is tried on every key, hp_gguf_config fills a config, every
 * readable tensor is read, and the file is opened once more as a model. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

static const hp_gguf *g_cur;

static bool in_map(const void *p, uint64_t n)
{
    const unsigned char *b = g_cur->file.map, *q = p;
    return q >= b && (uint64_t)(q - b) <= g_cur->file.size && n <= g_cur->file.size - (uint64_t)(q - b);
}

static void walk_kv(const hp_gguf_kv *kv, int depth)
{
    FZ_CHECK(depth <= HP_GGUF_MAX_NESTING + 1);
    FZ_CHECK(hp_gguf_type_name(kv->type) != NULL);
    int64_t i64;
    double f64;
    size_t len;
    switch (kv->type) {
    case HP_GGUF_STRING:
        FZ_CHECK(kv->str != NULL && kv->str[kv->str_len] == 0);
        fz_touch(kv->str, kv->str_len + 1);
        break;
    case HP_GGUF_ARRAY:
        FZ_CHECK(kv->arr.type <= HP_GGUF_FLOAT64);
        FZ_CHECK(kv->arr.data == g_cur->file.map + kv->arr.offset);
        if (kv->arr.type == HP_GGUF_STRING) {
            for (uint64_t i = 0; i < kv->arr.count; i++) {
                const char *s = hp_gguf_arr_str(kv, i, &len);
                FZ_CHECK(s != NULL && in_map(s, len));
                fz_touch(s, len);
            }
            FZ_CHECK(hp_gguf_arr_i64(kv, 0, &i64) == -1);
        } else if (kv->arr.type == HP_GGUF_ARRAY) {
            FZ_CHECK(kv->arr.items != NULL || kv->arr.count == 0);
            for (uint64_t i = 0; i < kv->arr.count; i++) {
                FZ_CHECK(kv->arr.items[i].key == NULL && kv->arr.items[i].type == HP_GGUF_ARRAY);
                walk_kv(&kv->arr.items[i], depth + 1);
            }
            FZ_CHECK(hp_gguf_arr_f64(kv, 0, &f64) == -1);
        } else {
            for (uint64_t i = 0; i < kv->arr.count; i++) {
                FZ_CHECK(hp_gguf_arr_f64(kv, i, &f64) == 0);
                int r = hp_gguf_arr_i64(kv, i, &i64);
                if (kv->arr.type == HP_GGUF_FLOAT32 || kv->arr.type == HP_GGUF_FLOAT64)
                    FZ_CHECK(r == -1);
            }
            FZ_CHECK(hp_gguf_arr_str(kv, 0, &len) == NULL);
        }
        FZ_CHECK(hp_gguf_arr_str(kv, kv->arr.count, &len) == NULL);
        FZ_CHECK(hp_gguf_arr_i64(kv, kv->arr.count, &i64) == -1);
        FZ_CHECK(hp_gguf_arr_f64(kv, kv->arr.count, &f64) == -1);
        break;
    default:
        FZ_CHECK(kv->type <= HP_GGUF_FLOAT64);
        FZ_CHECK(hp_gguf_arr_f64(kv, 0, &f64) == -1);
        break;
    }
}

static void try_getters(const hp_gguf *g, const char *key)
{
    hp_err err = {{0}};
    uint64_t u;
    int64_t i;
    double f;
    bool b;
    if (hp_gguf_get_u64(g, key, &u, &err) != 0)
        fz_check_err(&err);
    if (hp_gguf_get_i64(g, key, &i, &err) != 0)
        fz_check_err(&err);
    if (hp_gguf_get_f64(g, key, &f, &err) != 0)
        fz_check_err(&err);
    if (hp_gguf_get_bool(g, key, &b, &err) != 0)
        fz_check_err(&err);
    if (!hp_gguf_get_str(g, key, &err))
        fz_check_err(&err);
    static const hp_gguf_type elems[] = {HP_GGUF_UINT8, HP_GGUF_INT64, HP_GGUF_FLOAT32,
                                         HP_GGUF_BOOL, HP_GGUF_STRING, HP_GGUF_ARRAY};
    for (size_t k = 0; k < sizeof elems / sizeof elems[0]; k++) {
        const hp_gguf_kv *a = hp_gguf_get_array(g, key, elems[k], &err);
        if (!a) {
            fz_check_err(&err);
            continue;
        }
        FZ_CHECK(a->type == HP_GGUF_ARRAY);
        /* What hp_gguf_get_array allowed, the element accessors give. */
        for (uint64_t j = 0; j < a->arr.count && j < 4; j++) {
            size_t len;
            int64_t i64;
            double f64;
            if (elems[k] == HP_GGUF_STRING)
                FZ_CHECK(hp_gguf_arr_str(a, j, &len) != NULL);
            else if (elems[k] == HP_GGUF_FLOAT32 || elems[k] == HP_GGUF_BOOL)
                FZ_CHECK(hp_gguf_arr_f64(a, j, &f64) == 0);
            else if (elems[k] == HP_GGUF_INT64)
                (void)hp_gguf_arr_i64(a, j, &i64); /* u64 above INT64_MAX fails */
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_path(0, "model.gguf");
    fz_write(path, data, size);
    hp_err err = {{0}};

    hp_gguf g;
    if (hp_gguf_open(&g, path, 0, &err) == 0) {
        g_cur = &g;
        FZ_CHECK(g.version == 2 || g.version == 3);
        FZ_CHECK(g.alignment > 0 && (g.alignment & (g.alignment - 1)) == 0);
        FZ_CHECK(memchr(g.architecture, 0, sizeof g.architecture) != NULL);
        for (size_t i = 0; i < g.n_kv; i++) {
            const hp_gguf_kv *kv = &g.kvs[i];
            FZ_CHECK(kv->key != NULL && kv->key[0] != 0);
            FZ_CHECK(hp_gguf_get(&g, kv->key) == kv); /* keys are unique */
            walk_kv(kv, 1);
            try_getters(&g, kv->key);
        }
        try_getters(&g, "no.such.key");
        for (size_t i = 0; i < g.n_tensors; i++) {
            const hp_tensor *t = &g.tensors[i];
            FZ_CHECK(t->offset >= g.data_start && (t->offset - g.data_start) % g.alignment == 0);
            FZ_CHECK(t->ndim >= 1 && t->ndim <= HP_GGUF_MAX_DIMS);
            FZ_CHECK(hp_gguf_tensor(&g, t->name) == t);
            if (t->stored_name) {
                FZ_CHECK(strcmp(t->stored_name, t->name) != 0);
                char *hf = hp_gguf_hf_name(t->stored_name, &err);
                FZ_CHECK(hf && strcmp(hf, t->name) == 0);
                free(hf);
            }
            fz_check_tensor(&g.file, t);
            fz_read_tensor(&g.file, t);
        }
        hp_config c;
        if (hp_gguf_config(&g, &c, &err) != 0) {
            fz_check_err(&err);
        } else {
            FZ_CHECK(memchr(c.architecture, 0, sizeof c.architecture) != NULL);
            FZ_CHECK(memchr(c.model_type, 0, sizeof c.model_type) != NULL);
            FZ_CHECK(memchr(c.torch_dtype, 0, sizeof c.torch_dtype) != NULL);
            if (c.forward_supported)
                FZ_CHECK(hp_config_validate(&c, path, &err) == 0);
        }
        hp_gguf_close(&g);
        hp_gguf_close(&g);
        g_cur = NULL;
    } else {
        fz_check_err(&err);
        hp_gguf_close(&g); /* harmless on a failed open */
    }

    hp_model *m = hp_model_open(path, &err);
    if (m) {
        FZ_CHECK(m->format == HP_FORMAT_GGUF && m->gguf);
        fz_walk_model(m);
        hp_model_close(m);
    } else {
        fz_check_err(&err);
    }
    return 0;
}
