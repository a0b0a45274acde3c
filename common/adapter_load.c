/* Reading a PEFT adapter directory into an adapter set (hyplora/adapter_set.h): the
 * tensors say which modules are adapted and with what rank (lora_k marks HypLoRA ones),
 * adapter_config.json gives the scaling (lora_alpha, alpha_hyperbolic for the hyplora
 * modules, use_rslora) and the form; every shape is checked against the model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "hyplora/adapter_set.h"
#include "hyplora/file.h"
#include "hyplora/safetensors.h"

/* "base_model.model.model.layers.N.<self_attn|mlp>.<module>.<rest>": layer, module, rest. */
static int parse_name(const char *name, int *layer, hp_module *module, const char **rest)
{
    static const char PREFIX[] = "base_model.model.model.layers.";
    if (strncmp(name, PREFIX, sizeof PREFIX - 1) != 0)
        return -1;
    char *end;
    long l = strtol(name + sizeof PREFIX - 1, &end, 10);
    if (end == name + sizeof PREFIX - 1 || *end != '.' || l < 0 || l > 100000)
        return -1;
    const char *p = end + 1;
    if (strncmp(p, "self_attn.", 10) == 0)
        p += 10;
    else if (strncmp(p, "mlp.", 4) == 0)
        p += 4;
    else
        return -1;
    for (int m = 0; m < HP_N_MODULES; m++) {
        size_t n = strlen(hp_module_name((hp_module)m));
        if (strncmp(p, hp_module_name((hp_module)m), n) == 0 && p[n] == '.') {
            *layer = (int)l, *module = (hp_module)m, *rest = p + n + 1;
            return 0;
        }
    }
    return -1;
}

typedef struct found {
    int layer;
    hp_module module;
    const hp_tensor *A, *B, *k, *s;
} found;

static found *find_slot(found *f, size_t *n, int layer, hp_module m)
{
    for (size_t i = 0; i < *n; i++)
        if (f[i].layer == layer && f[i].module == m)
            return &f[i];
    f[*n] = (found){.layer = layer, .module = m};
    return &f[(*n)++];
}

static double number(const cJSON *o, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static int read_values(const hp_safetensors *st, const hp_tensor *t, float *out, hp_err *err)
{
    return hp_tensor_read_rows(&st->file, t, 0, hp_tensor_rows(t), out, NULL, err);
}

int hp_adapter_set_load(hp_adapter_set *s, const hp_config *c, const char *dir, hp_err *err)
{
    memset(s, 0, sizeof *s);
    char *cfg_path = hp_path_join(dir, "adapter_config.json", err);
    char *st_path = cfg_path ? hp_path_join(dir, "adapter_model.safetensors", err) : NULL;
    size_t len;
    char *text = st_path ? hp_read_small_file(cfg_path, 1 << 20, &len, err) : NULL;
    cJSON *cfg = text ? cJSON_Parse(text) : NULL;
    hp_safetensors st = {0};
    found *f = NULL;
    hp_adapter_spec *spec = NULL;
    int rc = -1;
    if (text && !cfg) {
        hp_fail(err, "%s: not valid JSON", cfg_path);
        goto out;
    }
    if (!cfg || hp_safetensors_open(&st, st_path, 0, err))
        goto out;
    const cJSON *peft = cJSON_GetObjectItemCaseSensitive(cfg, "peft_type");
    if (!cJSON_IsString(peft) || strcmp(peft->valuestring, "LORA") != 0) {
        hp_fail(err, "%s: peft_type is not \"LORA\": not a LoRA adapter", cfg_path);
        goto out;
    }
    const cJSON *hyp = cJSON_GetObjectItemCaseSensitive(cfg, "hyplora");
    const cJSON *form = hyp ? cJSON_GetObjectItemCaseSensitive(hyp, "form") : NULL;
    double alpha = number(cfg, "lora_alpha", 8), alpha_hyp = hyp ? number(hyp, "alpha_hyperbolic", alpha) : alpha;
    bool rslora = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "use_rslora"));
    if (!(f = hp_calloc(st.n_tensors ? st.n_tensors : 1, sizeof *f, "the adapter's tensors", err)))
        goto out;
    size_t n = 0;
    for (size_t i = 0; i < st.n_tensors; i++) {
        const hp_tensor *t = &st.tensors[i];
        int layer;
        hp_module m;
        const char *rest;
        if (parse_name(t->name, &layer, &m, &rest)) {
            hp_fail(err, "%s: tensor %s is not named as PEFT names a LoRA tensor of a Llama-family layer "
                         "(base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight, ...)", st_path, t->name);
            goto out;
        }
        found *slot = find_slot(f, &n, layer, m);
        const hp_tensor **where = !strcmp(rest, "lora_A.weight") ? &slot->A
                                  : !strcmp(rest, "lora_B.weight") ? &slot->B
                                  : !strcmp(rest, "lora_k")        ? &slot->k
                                  : !strcmp(rest, "lora_norm_scale") ? &slot->s : NULL;
        if (!where) {
            hp_fail(err, "%s: tensor %s: unknown part '%s' (expected lora_A.weight, lora_B.weight, lora_k or "
                         "lora_norm_scale)", st_path, t->name, rest);
            goto out;
        }
        *where = t;
    }
    if (!(spec = hp_calloc(n ? n : 1, sizeof *spec, "the adapter plan", err)))
        goto out;
    for (size_t i = 0; i < n; i++) {
        found *x = &f[i];
        int in, out;
        bool is_hyp = x->k || x->s;
        if (x->layer >= c->n_layers || hp_module_shape(c, x->module, &in, &out)) {
            hp_fail(err, "%s: an adapter on layer %d, but the model has %d layers: it was made for another model",
                    st_path, x->layer, c->n_layers);
            goto out;
        }
        if (!x->A || !x->B || (is_hyp && !(x->k && x->s))) {
            hp_fail(err, "%s: layer %d, %s: %s is missing", st_path, x->layer, hp_module_name(x->module),
                    !x->A ? "lora_A.weight" : !x->B ? "lora_B.weight" : !x->k ? "lora_k" : "lora_norm_scale");
            goto out;
        }
        int64_t r = x->A->ndim == 2 ? x->A->shape[0] : -1;
        if (x->A->ndim != 2 || x->B->ndim != 2 || x->A->shape[1] != in || x->B->shape[0] != out ||
            x->B->shape[1] != r || r < 1 || (is_hyp && (x->k->n_elements != 1 || x->s->n_elements != 1))) {
            /* name the tensor that does not fit: A when its input width is wrong, else B */
            const hp_tensor *bad = x->A->ndim != 2 || x->A->shape[1] != in || r < 1 ? x->A
                                   : (is_hyp && x->B->ndim == 2 && x->B->shape[0] == out && x->B->shape[1] == r)
                                       ? (x->k->n_elements != 1 ? x->k : x->s) : x->B;
            hp_fail(err, "%s: tensor %s (layer %d, %s): lora_A is %lld x %lld and lora_B %lld x %lld, but the "
                         "model's matrix is %d x %d (out x in): the adapter was made for another model shape",
                    st_path, bad->name, x->layer, hp_module_name(x->module), (long long)x->A->shape[0],
                    (long long)(x->A->ndim > 1 ? x->A->shape[1] : 0), (long long)x->B->shape[0],
                    (long long)(x->B->ndim > 1 ? x->B->shape[1] : 0), out, in);
            goto out;
        }
        spec[i] = (hp_adapter_spec){.layer = x->layer, .module = x->module, .rank = (int)r,
                                    .method = is_hyp ? HP_ADAPTER_HYPLORA : HP_ADAPTER_LORA,
                                    .form = cJSON_IsString(form) && !strcmp(form->valuestring, "released")
                                                ? HP_HYP_RELEASED : HP_HYP_CONSISTENT,
                                    .alpha = is_hyp ? alpha_hyp : alpha, .rslora = rslora, .initial_K = 1};
    }
    if (hp_adapter_set_init(s, c, spec, n, 0, err))
        goto out;
    for (size_t i = 0; i < n; i++) { /* the stored values over the fresh initialisation */
        hp_adapter *a = &s->a[i];
        if (read_values(&st, f[i].A, a->A, err) || read_values(&st, f[i].B, a->B, err) ||
            (a->k && (read_values(&st, f[i].k, a->k, err) || read_values(&st, f[i].s, a->s, err))))
            goto out;
        s->spec[i].initial_K = a->k ? hp_adapter_curvature(*a->k) : 0;
    }
    rc = 0;
out:
    if (rc)
        hp_adapter_set_free(s);
    hp_safetensors_close(&st);
    cJSON_Delete(cfg);
    free(text), free(cfg_path), free(st_path), free(f), free(spec);
    return rc;
}
