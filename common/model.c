#include "hyplora/model.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/gguf.h"
#include "hyplora/safetensors.h"

#define MAX_CONFIG_BYTES (4u << 20)
#define MAX_INDEX_BYTES (64u << 20)
#define MAX_TOKENIZER_BYTES (256u << 20)

/* The names under which architectures keep their input embedding, most common first. */
static const char *const EMBEDDING_NAMES[] = {
    "model.embed_tokens.weight",                /* Llama, Mistral, Qwen, Gemma, Phi-3 */
    "model.language_model.embed_tokens.weight", /* Gemma 3 multimodal */
    "language_model.model.embed_tokens.weight", /* Llava-style */
    "transformer.wte.weight",                   /* GPT-2, Falcon */
    "gpt_neox.embed_in.weight",                 /* Pythia */
    "model.decoder.embed_tokens.weight",        /* OPT */
    "transformer.word_embeddings.weight",       /* BLOOM */
    "embed_tokens.weight",
    "tok_embeddings.weight",                    /* Meta's original checkpoints */
    "token_embd.weight",                        /* GGUF names not mapped */
    "wte.weight",
};
#define N_EMBEDDING_NAMES (sizeof EMBEDDING_NAMES / sizeof EMBEDDING_NAMES[0])

const char *hp_model_format_name(hp_model_format f)
{
    switch (f) {
    case HP_FORMAT_HF_DIR:
        return "huggingface";
    case HP_FORMAT_SAFETENSORS:
        return "safetensors";
    case HP_FORMAT_GGUF:
        return "gguf";
    }
    return "?";
}

void hp_model_close(hp_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_shards; i++)
        hp_safetensors_close(&m->shards[i]);
    free(m->shards);
    if (m->gguf) {
        hp_gguf_close(m->gguf);
        free(m->gguf);
    }
    free(m->tensors);
    free(m->files);
    free(m->tokenizer_path);
    free(m->path);
    free(m);
}

/* Builds the flat tensor and file lists over the opened shards, refusing a tensor name
 * that two shards both hold. */
static int index_tensors(hp_model *m, hp_err *err)
{
    size_t n = 0;
    for (size_t s = 0; s < m->n_shards; s++)
        n += m->shards[s].n_tensors;
    if (m->gguf)
        n += m->gguf->n_tensors;
    m->n_files = m->gguf ? 1 : m->n_shards;
    m->tensors = hp_calloc(n, sizeof *m->tensors, "tensor list", err);
    m->files = hp_calloc(m->n_files, sizeof *m->files, "file list", err);
    if (!m->tensors || !m->files)
        return -1;
    if (m->gguf) {
        m->files[0] = &m->gguf->file;
        for (size_t i = 0; i < m->gguf->n_tensors; i++)
            m->tensors[m->n_tensors++] = &m->gguf->tensors[i];
        return 0;
    }
    for (size_t s = 0; s < m->n_shards; s++) {
        m->files[s] = &m->shards[s].file;
        for (size_t i = 0; i < m->shards[s].n_tensors; i++) {
            const hp_tensor *t = &m->shards[s].tensors[i];
            const hp_tensor *dup = hp_model_find(m, t->name);
            if (dup)
                return hp_fail(err, "%s: tensor \"%s\" is in both %s and %s", m->path, t->name,
                               m->files[dup->file]->path, m->shards[s].file.path);
            m->tensors[m->n_tensors++] = t;
        }
    }
    return 0;
}

static int open_shard(hp_model *m, const char *path, hp_err *err)
{
    hp_safetensors *grown = hp_realloc(m->shards, (m->n_shards + 1) * sizeof *grown, "shard list", err);
    if (!grown)
        return -1;
    m->shards = grown;
    if (hp_safetensors_open(&m->shards[m->n_shards], path, (int)m->n_shards, err) != 0)
        return -1;
    m->n_shards++;
    return 0;
}

static int shard_index_of(const hp_model *m, const char *path)
{
    for (size_t s = 0; s < m->n_shards; s++)
        if (strcmp(m->shards[s].file.path, path) == 0)
            return (int)s;
    return -1;
}

static bool shard_has(const hp_safetensors *st, const char *name)
{
    for (size_t i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0)
            return true;
    return false;
}

/* model.safetensors.index.json: {"metadata": {...}, "weight_map": {"tensor": "file"}}.
 * Every shard it names is opened once; every tensor it maps must be in that shard. */
static int open_sharded(hp_model *m, const char *index_path, hp_err *err)
{
    size_t len;
    char *text = hp_read_small_file(index_path, MAX_INDEX_BYTES, &len, err);
    if (!text)
        return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *wm = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    int rc = 0;
    if (!root)
        rc = hp_fail(err, "%s: not valid JSON", index_path);
    else if (!cJSON_IsObject(wm) || cJSON_GetArraySize(wm) == 0)
        rc = hp_fail(err, "%s: field \"weight_map\" missing, empty or not an object", index_path);
    const cJSON *e;
    cJSON_ArrayForEach(e, wm)
    {
        if (rc != 0)
            break;
        if (!cJSON_IsString(e) || !e->valuestring[0] || strchr(e->valuestring, '/') ||
            strcmp(e->valuestring, "..") == 0) {
            rc = hp_fail(err, "%s: weight_map entry \"%s\" must name a file in the same directory",
                         index_path, e->string);
            break;
        }
        char *shard = hp_path_join(m->path, e->valuestring, err);
        if (!shard) {
            rc = -1;
            break;
        }
        int s = shard_index_of(m, shard);
        if (s < 0 && (rc = open_shard(m, shard, err)) == 0)
            s = (int)m->n_shards - 1;
        if (rc == 0 && !shard_has(&m->shards[s], e->string))
            rc = hp_fail(err, "%s: weight_map puts tensor \"%s\" in %s, which does not hold it",
                         index_path, e->string, e->valuestring);
        free(shard);
    }
    cJSON_Delete(root);
    return rc;
}

static int open_hf_dir(hp_model *m, hp_err *err)
{
    char *cfg = hp_path_join(m->path, "config.json", err);
    char *index = hp_path_join(m->path, "model.safetensors.index.json", err);
    char *single = hp_path_join(m->path, "model.safetensors", err);
    char *tok = hp_path_join(m->path, "tokenizer.json", err);
    int rc = -1;
    if (!cfg || !index || !single || !tok)
        goto out;
    if (hp_exists(cfg)) {
        size_t len;
        char *text = hp_read_small_file(cfg, MAX_CONFIG_BYTES, &len, err);
        if (!text || hp_config_parse(text, len, cfg, &m->config, err) != 0) {
            free(text);
            goto out;
        }
        free(text);
        m->has_config = true;
    }
    if (hp_exists(index)) {
        if (open_sharded(m, index, err) != 0)
            goto out;
    } else if (hp_exists(single)) {
        if (open_shard(m, single, err) != 0)
            goto out;
    } else {
        hp_fail(err, "%s: no model.safetensors or model.safetensors.index.json in this directory "
                "(PyTorch .bin checkpoints are not read; convert them to safetensors)", m->path);
        goto out;
    }
    if (hp_exists(tok)) {
        m->tokenizer_path = tok;
        tok = NULL;
    }
    rc = 0;
out:
    free(cfg);
    free(index);
    free(single);
    free(tok);
    return rc;
}

static bool is_gguf(const char *path)
{
    FILE *fp = fopen(path, "rb");
    char magic[4] = {0};
    if (fp) {
        size_t got = fread(magic, 1, 4, fp);
        (void)got;
        fclose(fp);
    }
    return memcmp(magic, "GGUF", 4) == 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

hp_model *hp_model_open(const char *path, hp_err *err)
{
    hp_model *m = hp_calloc(1, sizeof *m, "a model handle", err);
    if (!m)
        return NULL;
    m->path = hp_strdup(path, err);
    if (!m->path)
        goto fail;
    size_t n = strlen(m->path);
    while (n > 1 && m->path[n - 1] == '/')
        m->path[--n] = 0;
    int rc;
    if (hp_is_dir(path)) {
        m->format = HP_FORMAT_HF_DIR;
        rc = open_hf_dir(m, err);
    } else if (!hp_exists(path)) {
        rc = hp_fail(err, "%s: no such file or directory", path);
    } else if (is_gguf(path) || ends_with(path, ".gguf")) {
        m->format = HP_FORMAT_GGUF;
        m->gguf = hp_calloc(1, sizeof *m->gguf, "a GGUF reader", err);
        rc = m->gguf ? hp_gguf_open(m->gguf, path, 0, err) : -1;
        if (rc != 0) {
            free(m->gguf);
            m->gguf = NULL;
        } else {
            rc = hp_gguf_config(m->gguf, &m->config, err);
            m->has_config = rc == 0;
        }
    } else if (ends_with(path, ".safetensors")) {
        m->format = HP_FORMAT_SAFETENSORS;
        rc = open_shard(m, path, err);
    } else {
        rc = hp_fail(err, "%s: not a model: expected a Hugging Face directory, a .safetensors file "
                     "or a GGUF file", path);
    }
    if (rc != 0 || index_tensors(m, err) != 0)
        goto fail;
    return m;
fail:
    hp_model_close(m);
    return NULL;
}

const hp_tensor *hp_model_find(const hp_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i]->name, name) == 0)
            return m->tensors[i];
    return NULL;
}

const hp_tensor *hp_model_embedding(const hp_model *m, hp_err *err)
{
    for (size_t i = 0; i < N_EMBEDDING_NAMES; i++) {
        const hp_tensor *t = hp_model_find(m, EMBEDDING_NAMES[i]);
        if (t && t->ndim == 2)
            return t;
    }
    char names[512];
    size_t k = 0;
    for (size_t i = 0; i < N_EMBEDDING_NAMES && k < sizeof names; i++)
        k += (size_t)snprintf(names + k, sizeof names - k, "%s%s", i ? ", " : "", EMBEDDING_NAMES[i]);
    hp_fail(err, "%s: no input-embedding matrix found (looked for a 2-D tensor named %s)", m->path, names);
    return NULL;
}

uint64_t hp_model_n_params(const hp_model *m)
{
    uint64_t n = 0;
    for (size_t i = 0; i < m->n_tensors; i++)
        n += m->tensors[i]->n_elements;
    return n;
}

int hp_model_read_rows(const hp_model *m, const hp_tensor *t, int64_t row0, int64_t n, float *out,
                       hp_err *err)
{
    return hp_tensor_read_rows(m->files[t->file], t, row0, n, out, NULL, err);
}

int hp_model_read_f32(const hp_model *m, const hp_tensor *t, float *out, hp_progress *progress,
                      hp_err *err)
{
    int64_t rows = hp_tensor_rows(t), cols = hp_tensor_cols(t);
    uint64_t rb = hp_tensor_row_bytes(t);
    if (rb == 0)
        return hp_tensor_read_rows(m->files[t->file], t, 0, rows, out, NULL, err);
    /* 8 MB of stored rows per read: large enough for full-speed I/O, small against the
     * float32 result. */
    int64_t chunk = (int64_t)((8u << 20) / rb);
    if (chunk < 1)
        chunk = 1;
    if (chunk > rows)
        chunk = rows;
    void *scratch = hp_malloc((size_t)(rb * (uint64_t)chunk), "a row buffer", err);
    if (!scratch)
        return -1;
    int rc = 0;
    for (int64_t r = 0; r < rows && rc == 0; r += chunk) {
        int64_t n = rows - r < chunk ? rows - r : chunk;
        rc = hp_tensor_read_rows(m->files[t->file], t, r, n, out + r * cols, scratch, err);
        hp_progress_update(progress, (uint64_t)(r + n), (uint64_t)rows);
    }
    free(scratch);
    return rc;
}

int hp_model_tokenizer_type(const hp_model *m, char *buf, size_t size, hp_err *err)
{
    snprintf(buf, size, "none");
    if (m->gguf) {
        const char *model = hp_gguf_get_str(m->gguf, "tokenizer.ggml.model", NULL);
        if (model)
            snprintf(buf, size, "gguf:%s", model);
        return 0;
    }
    if (!m->tokenizer_path)
        return 0;
    size_t len;
    char *text = hp_read_small_file(m->tokenizer_path, MAX_TOKENIZER_BYTES, &len, err);
    if (!text)
        return -1;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *model = root ? cJSON_GetObjectItemCaseSensitive(root, "model") : NULL;
    const cJSON *type = model ? cJSON_GetObjectItemCaseSensitive(model, "type") : NULL;
    int rc = 0;
    if (!root)
        rc = hp_fail(err, "%s: not valid JSON", m->tokenizer_path);
    else if (!cJSON_IsString(type))
        rc = hp_fail(err, "%s: field \"model.type\" missing or not a string", m->tokenizer_path);
    else
        snprintf(buf, size, "%s", type->valuestring);
    cJSON_Delete(root);
    return rc;
}
