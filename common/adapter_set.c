/* The adapters of a training run (hyplora/adapter_set.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "hyplora/adapter_set.h"
#include "hyplora/file.h"
#include "hyplora/rng.h"
#include "hyplora/safetensors.h"

double hp_adapter_raw_k(double K)
{
    return log(expm1(K - 1e-6));
}

/* Floats of one adapter in the blocks: A, B, and k, s for HypLoRA. */
static size_t adapter_floats(const hp_adapter_spec *p, int in, int out)
{
    return (size_t)p->rank * (size_t)(in + out) + (p->method == HP_ADAPTER_HYPLORA ? 2 : 0);
}

static int check_spec(const hp_config *c, const hp_adapter_spec *spec, size_t n, hp_err *err)
{
    for (size_t i = 0; i < n; i++) {
        const hp_adapter_spec *p = &spec[i];
        int in, out;
        if (p->layer < 0 || p->layer >= c->n_layers)
            return hp_fail(err, "adapter %zu: layer %d is out of range: the model has layers 0 to %d", i, p->layer,
                           c->n_layers - 1);
        if (hp_module_shape(c, p->module, &in, &out))
            return hp_fail(err, "adapter %zu: unknown module %d", i, (int)p->module);
        int most = in < out ? in : out;
        if (p->rank < 1 || p->rank > most)
            return hp_fail(err, "adapter %zu (layer %d, %s): rank %d, expected 1 to %d (the smaller side of the "
                                "%d x %d matrix)", i, p->layer, hp_module_name(p->module), p->rank, most, out, in);
        if (!(p->dropout >= 0 && p->dropout < 1) || !(p->alpha > 0))
            return hp_fail(err, "adapter %zu (layer %d, %s): dropout %g or alpha %g out of range", i, p->layer,
                           hp_module_name(p->module), p->dropout, p->alpha);
        if (p->method == HP_ADAPTER_HYPLORA && !(p->initial_K > 1e-6 && isfinite(p->initial_K)))
            return hp_fail(err, "adapter %zu (layer %d, %s): initial curvature K = %g, expected above 1e-6", i,
                           p->layer, hp_module_name(p->module), p->initial_K);
        for (size_t j = 0; j < i; j++)
            if (spec[j].layer == p->layer && spec[j].module == p->module)
                return hp_fail(err, "layer %d, %s has two adapters", p->layer, hp_module_name(p->module));
    }
    return 0;
}

int hp_adapter_set_init(hp_adapter_set *s, const hp_config *c, const hp_adapter_spec *spec, size_t n, uint64_t seed,
                        hp_err *err)
{
    memset(s, 0, sizeof *s);
    if (check_spec(c, spec, n, err))
        return -1;
    s->n = n;
    if (!(s->spec = hp_malloc((n ? n : 1) * sizeof *s->spec, "the adapter plan", err)) ||
        !(s->a = hp_calloc(n ? n : 1, sizeof *s->a, "the adapters", err)) ||
        !(s->offset = hp_malloc((n ? n : 1) * sizeof *s->offset, "the adapters", err)))
        goto fail;
    memcpy(s->spec, spec, n * sizeof *spec);
    for (size_t i = 0; i < n; i++) {
        int in, out;
        hp_module_shape(c, spec[i].module, &in, &out);
        s->offset[i] = s->n_params;
        s->n_params += adapter_floats(&spec[i], in, out);
    }
    if (!(s->params = hp_calloc(s->n_params ? s->n_params : 1, sizeof(float), "the adapter values", err)) ||
        !(s->grads = hp_calloc(s->n_params ? s->n_params : 1, sizeof(float), "the adapter gradients", err)))
        goto fail;
    hp_rng g;
    hp_rng_seed(&g, seed);
    for (size_t i = 0; i < n; i++) {
        const hp_adapter_spec *p = &spec[i];
        hp_adapter *a = &s->a[i];
        int in, out;
        hp_module_shape(c, p->module, &in, &out);
        size_t na = (size_t)p->rank * in, nb = (size_t)out * p->rank;
        float *v = s->params + s->offset[i], *d = s->grads + s->offset[i];
        *a = (hp_adapter){.method = p->method, .form = p->form, .in = in, .out = out, .rank = p->rank,
                          .scaling = (float)(p->alpha / (p->rslora ? sqrt(p->rank) : p->rank)),
                          .dropout = (float)p->dropout, .A = v, .B = v + na, .dA = d, .dB = d + na};
        double bound = 1 / sqrt((double)in); /* kaiming_uniform_(a = sqrt(5)), as PEFT */
        for (size_t j = 0; j < na; j++)
            a->A[j] = (float)(bound * (2 * hp_rng_uniform(&g) - 1));
        if (p->method == HP_ADAPTER_HYPLORA) {
            a->k = v + na + nb, a->s = a->k + 1, a->dk = d + na + nb, a->ds = a->dk + 1;
            *a->k = (float)hp_adapter_raw_k(p->initial_K);
            *a->s = (float)sqrt((double)in);
        }
    }
    return 0;
fail:
    hp_adapter_set_free(s);
    return -1;
}

void hp_adapter_set_free(hp_adapter_set *s)
{
    free(s->spec), free(s->a), free(s->offset), free(s->params), free(s->grads);
    memset(s, 0, sizeof *s);
}

void hp_adapter_set_attach(const hp_adapter_set *s, hp_fwd_model *fm)
{
    for (size_t i = 0; i < s->n; i++)
        fm->layers[s->spec[i].layer].adapter[s->spec[i].module] = &s->a[i];
}

void hp_adapter_set_detach(const hp_adapter_set *s, hp_fwd_model *fm)
{
    for (size_t i = 0; i < s->n; i++)
        fm->layers[s->spec[i].layer].adapter[s->spec[i].module] = NULL;
}

int hp_adapter_set_lowest(const hp_adapter_set *s, int n_layers)
{
    int lowest = n_layers;
    for (size_t i = 0; i < s->n; i++)
        lowest = s->spec[i].layer < lowest ? s->spec[i].layer : lowest;
    return lowest;
}

/* ---- the PEFT directory ---- */

void hp_adapter_spec_name(const hp_adapter_spec *p, char *buf, size_t n)
{
    bool attn = p->module <= HP_MODULE_O;
    snprintf(buf, n, "model.layers.%d.%s.%s", p->layer, attn ? "self_attn" : "mlp", hp_module_name(p->module));
}

/* "base_model.model.model.layers.N.self_attn.q_proj": PEFT's prefix of the module's tensors. */
static void peft_prefix(const hp_adapter_spec *p, char *buf, size_t n)
{
    char name[96];
    hp_adapter_spec_name(p, name, sizeof name);
    snprintf(buf, n, "base_model.model.%s", name);
}

static int save_tensors(const hp_adapter_set *s, const char *path, hp_err *err)
{
    hp_st_write *t = hp_calloc(4 * (s->n ? s->n : 1), sizeof *t, "the adapter tensors", err);
    char (*names)[160] = hp_calloc(4 * (s->n ? s->n : 1), sizeof *names, "the adapter tensor names", err);
    size_t k = 0;
    for (size_t i = 0; t && names && i < s->n; i++) {
        const hp_adapter *a = &s->a[i];
        char prefix[128];
        peft_prefix(&s->spec[i], prefix, sizeof prefix);
        snprintf(names[k], sizeof names[k], "%s.lora_A.weight", prefix);
        t[k] = (hp_st_write){names[k], HP_F32, 2, {a->rank, a->in}, a->A};
        k++;
        snprintf(names[k], sizeof names[k], "%s.lora_B.weight", prefix);
        t[k] = (hp_st_write){names[k], HP_F32, 2, {a->out, a->rank}, a->B};
        k++;
        if (a->method == HP_ADAPTER_HYPLORA) {
            snprintf(names[k], sizeof names[k], "%s.lora_k", prefix);
            t[k] = (hp_st_write){names[k], HP_F32, 0, {0}, a->k};
            k++;
            snprintf(names[k], sizeof names[k], "%s.lora_norm_scale", prefix);
            t[k] = (hp_st_write){names[k], HP_F32, 0, {0}, a->s};
            k++;
        }
    }
    int rc = t && names ? hp_safetensors_write(path, t, k, (const char *const[]){"format", "pt"}, 1, err) : -1;
    free(t);
    free(names);
    return rc;
}

static char *config_json(const hp_adapter_set *s, const char *base_model, double k_grad_clip, const char *plan_source,
                         hp_err *err)
{
    cJSON *root = cJSON_CreateObject(), *targets = cJSON_CreateArray();
    bool seen[HP_N_MODULES] = {0}, hyp = false;
    double alpha = 0, alpha_hyp = 0, dropout = 0;
    int rank = 0;
    for (size_t i = 0; i < s->n; i++) {
        const hp_adapter_spec *p = &s->spec[i];
        if (!seen[p->module])
            cJSON_AddItemToArray(targets, cJSON_CreateString(hp_module_name(p->module)));
        seen[p->module] = true;
        rank = p->rank, dropout = p->dropout;
        if (p->method == HP_ADAPTER_HYPLORA)
            hyp = true, alpha_hyp = p->alpha;
        else
            alpha = p->alpha;
    }
    cJSON_AddStringToObject(root, "peft_type", "LORA");
    cJSON_AddStringToObject(root, "task_type", "CAUSAL_LM");
    cJSON_AddStringToObject(root, "base_model_name_or_path", base_model ? base_model : "");
    cJSON_AddNumberToObject(root, "r", rank);
    cJSON_AddNumberToObject(root, "lora_alpha", alpha > 0 ? alpha : alpha_hyp);
    cJSON_AddNumberToObject(root, "lora_dropout", dropout);
    cJSON_AddStringToObject(root, "bias", "none");
    cJSON_AddBoolToObject(root, "use_rslora", s->n && s->spec[0].rslora);
    cJSON_AddItemToObject(root, "target_modules", targets);
    if (hyp) {
        cJSON *h = cJSON_AddObjectToObject(root, "hyplora"), *mods = cJSON_CreateArray(), *K = cJSON_CreateObject();
        const char *form = "consistent";
        for (size_t i = 0; i < s->n; i++) {
            const hp_adapter_spec *p = &s->spec[i];
            if (p->method != HP_ADAPTER_HYPLORA)
                continue;
            char name[96];
            hp_adapter_spec_name(p, name, sizeof name);
            cJSON_AddItemToArray(mods, cJSON_CreateString(name));
            cJSON_AddNumberToObject(K, name, p->initial_K);
            form = p->form == HP_HYP_RELEASED ? "released" : "consistent";
        }
        cJSON_AddStringToObject(h, "form", form);
        cJSON_AddItemToObject(h, "hyperbolic_modules", mods);
        cJSON_AddItemToObject(h, "initial_curvature", K);
        cJSON_AddNumberToObject(h, "alpha_hyperbolic", alpha_hyp);
        if (k_grad_clip > 0)
            cJSON_AddNumberToObject(h, "k_grad_clip", k_grad_clip);
        else
            cJSON_AddNullToObject(h, "k_grad_clip");
        cJSON_AddStringToObject(h, "plan_source", plan_source ? plan_source : "options");
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        hp_fail(err, "out of memory writing adapter_config.json");
    return text;
}

int hp_adapter_set_save(const hp_adapter_set *s, const char *dir, const char *base_model, double k_grad_clip,
                        const char *plan_source, hp_err *err)
{
    if (hp_make_dirs(dir, err))
        return -1;
    char *st = hp_path_join(dir, "adapter_model.safetensors", err);
    char *cfg = st ? hp_path_join(dir, "adapter_config.json", err) : NULL;
    char *text = cfg ? config_json(s, base_model, k_grad_clip, plan_source, err) : NULL;
    int rc = text && save_tensors(s, st, err) == 0 && hp_write_file_atomic(cfg, text, strlen(text), err) == 0 ? 0 : -1;
    free(st), free(cfg), free(text);
    return rc;
}
