/* Hugging Face model directories (train/hf_dir.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hf_dir.h"

int hf_write_json(const char *dir, const char *name, cJSON *doc, hp_err *err)
{
    char *text = cJSON_Print(doc);
    cJSON_Delete(doc);
    char *path = hp_path_join(dir, name, err);
    int rc = -1;
    if (!text)
        hp_fail(err, "out of memory printing %s", name);
    else if (path)
        rc = hp_write_file_atomic(path, text, strlen(text), err);
    free(text);
    free(path);
    return rc;
}

int hf_write_config(const char *dir, const hp_config *c, hp_dtype dtype, hp_err *err)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *archs = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(archs, cJSON_CreateString("LlamaForCausalLM"));
    cJSON_AddStringToObject(o, "model_type", "llama");
    cJSON_AddNumberToObject(o, "hidden_size", c->hidden_size);
    cJSON_AddNumberToObject(o, "intermediate_size", c->intermediate_size);
    cJSON_AddNumberToObject(o, "num_hidden_layers", c->n_layers);
    cJSON_AddNumberToObject(o, "num_attention_heads", c->n_heads);
    cJSON_AddNumberToObject(o, "num_key_value_heads", c->n_kv_heads);
    cJSON_AddNumberToObject(o, "head_dim", c->head_dim);
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(o, "max_position_embeddings", c->max_position_embeddings);
    cJSON_AddNumberToObject(o, "rms_norm_eps", c->rms_norm_eps);
    cJSON_AddNumberToObject(o, "rope_theta", c->rope_theta);
    cJSON_AddNullToObject(o, "rope_scaling");
    cJSON_AddStringToObject(o, "hidden_act", "silu");
    cJSON_AddBoolToObject(o, "attention_bias", false);
    cJSON_AddBoolToObject(o, "mlp_bias", false);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", c->tie_word_embeddings);
    cJSON_AddNumberToObject(o, "bos_token_id", c->bos_token_id);
    cJSON_AddNumberToObject(o, "eos_token_id", c->eos_token_id);
    cJSON_AddNumberToObject(o, "initializer_range", 0.02);
    cJSON_AddStringToObject(o, "torch_dtype", dtype == HP_F32 ? "float32" : dtype == HP_F16 ? "float16" : "bfloat16");
    return hf_write_json(dir, "config.json", o, err);
}

static int copy_file(const char *from, const char *to, hp_err *err)
{
    size_t len;
    char *data = hp_read_small_file(from, 512u << 20, &len, err);
    int rc = data ? hp_write_file_atomic(to, data, len, err) : -1;
    free(data);
    return rc;
}

int hf_copy_tokenizer(const char *tokenizer, const char *dir, hp_err *err)
{
    char *to = hp_path_join(dir, "tokenizer.json", err);
    int rc = to ? copy_file(tokenizer, to, err) : -1;
    free(to);
    const char *slash = strrchr(tokenizer, '/');
    size_t dirlen = slash ? (size_t)(slash - tokenizer) : 1;
    char from_dir[4096];
    snprintf(from_dir, sizeof from_dir, "%.*s", (int)dirlen, slash ? tokenizer : ".");
    char *from = hp_path_join(from_dir, "tokenizer_config.json", err);
    if (rc == 0 && from && hp_exists(from)) {
        to = hp_path_join(dir, "tokenizer_config.json", err);
        rc = to ? copy_file(from, to, err) : -1;
        free(to);
    }
    free(from);
    return rc;
}

int hf_write_weights(const char *dir, const hp_fwd_model *fm, hp_dtype dtype, hp_err *err)
{
    size_t n = fm->n_tensors;
    hp_st_write *w = hp_calloc(n ? n : 1, sizeof *w, "the tensor list", err);
    uint16_t *half = dtype == HP_F32 ? NULL : hp_malloc_large(fm->n_params * 2, "the weights in 16 bits", err);
    char *path = hp_path_join(dir, "model.safetensors", err);
    int rc = w && path && (dtype == HP_F32 || half) ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const hp_fwd_tensor *t = &fm->tensors[i];
        w[i] = (hp_st_write){.name = t->name, .dtype = dtype, .ndim = t->cols ? 2 : 1};
        w[i].shape[0] = t->rows;
        w[i].shape[1] = t->cols;
        w[i].data = dtype == HP_F32 ? (const void *)(fm->params + t->offset) : (const void *)(half + t->offset);
    }
    for (size_t i = 0; rc == 0 && half && i < fm->n_params; i++)
        half[i] = dtype == HP_BF16 ? hp_f32_to_bf16(fm->params[i]) : hp_f32_to_f16(fm->params[i]);
    static const char *const META[] = {"format", "pt"};
    if (rc == 0)
        rc = hp_safetensors_write(path, w, n, META, 1, err);
    if (half)
        hp_free_large(half, fm->n_params * 2);
    free(path);
    free(w);
    return rc;
}
