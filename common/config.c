#include "hyplora/config.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* The causal-LM architectures the forward pass implements, by config.json "model_type". */
static const struct {
    const char *model_type, *architecture;
} SUPPORTED[] = {
    {"llama", "LlamaForCausalLM"},
    {"mistral", "MistralForCausalLM"},
    {"qwen2", "Qwen2ForCausalLM"},
};

static int get_int(const cJSON *root, const char *key, int *out, bool required, const char *path,
                   hp_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return hp_fail(err, "%s: field \"%s\" is missing (an integer is required)", path, key);
        return 0;
    }
    if (!cJSON_IsNumber(v) || floor(v->valuedouble) != v->valuedouble || v->valuedouble < 0 ||
        v->valuedouble > 2147483647.0)
        return hp_fail(err, "%s: field \"%s\" must be a non-negative integer", path, key);
    *out = (int)v->valuedouble;
    return 0;
}

static int get_double(const cJSON *root, const char *key, double *out, bool required,
                      const char *path, hp_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        if (required)
            return hp_fail(err, "%s: field \"%s\" is missing (a number is required)", path, key);
        return 0;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return hp_fail(err, "%s: field \"%s\" must be a finite number", path, key);
    *out = v->valuedouble;
    return 0;
}

static int get_bool(const cJSON *root, const char *key, bool *out, const char *path, hp_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsBool(v))
        return hp_fail(err, "%s: field \"%s\" must be true or false", path, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

/* bos/eos may be an integer or (Llama 3) a list of integers, of which the first counts. */
static int get_token_id(const cJSON *root, const char *key, int *out, const char *path, hp_err *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (cJSON_IsArray(v))
        v = cJSON_GetArrayItem(v, 0);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 2147483647.0 ||
        floor(v->valuedouble) != v->valuedouble)
        return hp_fail(err, "%s: field \"%s\" must be a token id", path, key);
    *out = (int)v->valuedouble;
    return 0;
}

static int parse_rope_scaling(const cJSON *root, hp_config *c, const char *path, hp_err *err)
{
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (!rs || cJSON_IsNull(rs))
        return 0;
    if (!cJSON_IsObject(rs))
        return hp_fail(err, "%s: field \"rope_scaling\" must be an object or null", path);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!type)
        type = cJSON_GetObjectItemCaseSensitive(rs, "type");
    if (!cJSON_IsString(type))
        return hp_fail(err, "%s: field \"rope_scaling.rope_type\" missing or not a string", path);
    if (strcmp(type->valuestring, "default") == 0)
        return 0;
    if (get_double(rs, "factor", &c->rope_scaling.factor, true, path, err) != 0)
        return hp_failctx(err, "in rope_scaling");
    if (strcmp(type->valuestring, "linear") == 0) {
        c->rope_scaling.type = HP_ROPE_LINEAR;
        return 0;
    }
    if (strcmp(type->valuestring, "llama3") == 0) {
        c->rope_scaling.type = HP_ROPE_LLAMA3;
        if (get_double(rs, "low_freq_factor", &c->rope_scaling.low_freq_factor, true, path, err) ||
            get_double(rs, "high_freq_factor", &c->rope_scaling.high_freq_factor, true, path, err) ||
            get_int(rs, "original_max_position_embeddings",
                    &c->rope_scaling.original_max_position_embeddings, true, path, err))
            return hp_failctx(err, "in rope_scaling");
        return 0;
    }
    return hp_fail(err, "%s: rope_scaling type \"%s\" is not supported (llama3, linear or default)",
                   path, type->valuestring);
}

int hp_config_validate(const hp_config *c, const char *path, hp_err *err)
{
    if (c->hidden_size <= 0 || c->n_layers <= 0 || c->n_heads <= 0 || c->n_kv_heads <= 0 ||
        c->vocab_size <= 0 || c->intermediate_size <= 0 || c->head_dim <= 0)
        return hp_fail(err, "%s: hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, "
                       "num_key_value_heads, head_dim and vocab_size must all be positive", path);
    if (c->n_heads % c->n_kv_heads != 0)
        return hp_fail(err, "%s: num_attention_heads (%d) is not a multiple of num_key_value_heads (%d)",
                       path, c->n_heads, c->n_kv_heads);
    if (c->head_dim % 2 != 0)
        return hp_fail(err, "%s: head_dim %d is odd; rotary embeddings need an even head_dim", path,
                       c->head_dim);
    if (!(c->rms_norm_eps > 0) || !(c->rope_theta > 0))
        return hp_fail(err, "%s: rms_norm_eps and rope_theta must be positive", path);
    return 0;
}

int hp_config_parse(const char *json, size_t len, const char *path, hp_config *c, hp_err *err)
{
    memset(c, 0, sizeof *c);
    c->bos_token_id = c->eos_token_id = -1;
    c->rope_theta = 10000.0;
    c->rms_norm_eps = 1e-6;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root)
        return hp_fail(err, "%s: not valid JSON (near byte %zu)", path, end ? (size_t)(end - json) : 0);
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        hp_fail(err, "%s: expected a JSON object", path);
        goto out;
    }
    /* Multimodal checkpoints (Gemma 3, Llava...) keep the language model's fields in a
     * nested text_config; read those. */
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(root, "text_config");
    const cJSON *fields = cJSON_IsObject(text) ? text : root;

    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    if (cJSON_IsString(mt))
        snprintf(c->model_type, sizeof c->model_type, "%s", mt->valuestring);
    if (cJSON_IsArray(archs) && cJSON_IsString(cJSON_GetArrayItem(archs, 0)))
        snprintf(c->architecture, sizeof c->architecture, "%s", cJSON_GetArrayItem(archs, 0)->valuestring);
    for (size_t i = 0; i < sizeof SUPPORTED / sizeof SUPPORTED[0]; i++)
        if (strcmp(c->model_type, SUPPORTED[i].model_type) == 0 ||
            strcmp(c->architecture, SUPPORTED[i].architecture) == 0) {
            c->forward_supported = true;
            if (!c->model_type[0])
                snprintf(c->model_type, sizeof c->model_type, "%s", SUPPORTED[i].model_type);
            if (!c->architecture[0])
                snprintf(c->architecture, sizeof c->architecture, "%s", SUPPORTED[i].architecture);
        }
    bool req = c->forward_supported;
    if (req && !cJSON_IsString(mt)) {
        hp_fail(err, "%s: field \"model_type\" is missing", path);
        goto out;
    }
    if (get_int(fields, "hidden_size", &c->hidden_size, req, path, err) ||
        get_int(fields, "intermediate_size", &c->intermediate_size, req, path, err) ||
        get_int(fields, "num_hidden_layers", &c->n_layers, req, path, err) ||
        get_int(fields, "num_attention_heads", &c->n_heads, req, path, err) ||
        get_int(fields, "vocab_size", &c->vocab_size, req, path, err) ||
        get_int(fields, "max_position_embeddings", &c->max_position_embeddings, false, path, err) ||
        get_double(fields, "rms_norm_eps", &c->rms_norm_eps, false, path, err) ||
        get_double(fields, "rope_theta", &c->rope_theta, false, path, err) ||
        get_bool(fields, "attention_bias", &c->attention_bias, path, err) ||
        get_token_id(fields, "bos_token_id", &c->bos_token_id, path, err) ||
        get_token_id(fields, "eos_token_id", &c->eos_token_id, path, err) ||
        parse_rope_scaling(fields, c, path, err))
        goto out;
    /* Defaults as the reference implementation applies them: kv heads = heads (no
     * grouping), head_dim = hidden / heads, embeddings tied only when said (the
     * Llama/Mistral default is untied; Qwen2's config always states it). */
    c->n_kv_heads = c->n_heads;
    if (get_int(fields, "num_key_value_heads", &c->n_kv_heads, false, path, err))
        goto out;
    if (c->n_heads > 0)
        c->head_dim = c->hidden_size / c->n_heads;
    if (get_int(fields, "head_dim", &c->head_dim, false, path, err))
        goto out;
    const cJSON *tie = cJSON_GetObjectItemCaseSensitive(root, "tie_word_embeddings");
    if (tie && !cJSON_IsBool(tie)) {
        hp_fail(err, "%s: field \"tie_word_embeddings\" must be true or false", path);
        goto out;
    }
    c->tie_word_embeddings = cJSON_IsTrue(tie);
    if (strcmp(c->model_type, "qwen2") == 0)
        c->attention_bias = true; /* Qwen2 always has q/k/v biases */
    /* Mistral applies its window whenever the config gives one; Qwen2 only when told to. */
    const cJSON *use_sw = cJSON_GetObjectItemCaseSensitive(fields, "use_sliding_window");
    if ((strcmp(c->model_type, "mistral") == 0 || cJSON_IsTrue(use_sw)) &&
        get_int(fields, "sliding_window", &c->sliding_window, false, path, err))
        goto out;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(fields, "torch_dtype");
    if (cJSON_IsString(dt))
        snprintf(c->torch_dtype, sizeof c->torch_dtype, "%s", dt->valuestring);
    if (req && hp_config_validate(c, path, err) != 0)
        goto out;
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}
