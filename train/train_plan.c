/* The plan of a training run from its options (train/train_plan.h). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train_plan.h"

void train_plan_options_init(train_plan_options *o)
{
    *o = (train_plan_options){.method = "hyplora", .other = "lora", .layers = "all", .targets = "q,k,v,up,down",
                              .rank = 32, .alpha = 64, .alpha_hyperbolic = 128, .curvature = 1.0, .dropout = 0.05};
}

/* "q" or "q_proj" (and so on) to the module; -1 for anything else. */
static int module_of(const char *s, size_t len)
{
    for (int m = 0; m < HP_N_MODULES; m++) {
        const char *name = hp_module_name((hp_module)m);
        size_t short_len = strlen(name) - strlen("_proj");
        if ((len == short_len || len == strlen(name)) && strncmp(s, name, len) == 0)
            return m;
    }
    return -1;
}

static int parse_targets(const char *spec, bool want[HP_N_MODULES], hp_err *err)
{
    memset(want, 0, HP_N_MODULES * sizeof *want);
    if (strcmp(spec, "all") == 0) {
        for (int m = 0; m < HP_N_MODULES; m++)
            want[m] = true;
        return 0;
    }
    for (const char *p = spec;;) {
        size_t len = strcspn(p, ",");
        int m = module_of(p, len);
        if (m < 0)
            return hp_fail(err, "--targets: unknown module '%.*s': expected a list of q, k, v, o, gate, up, down "
                                "(or q_proj ... down_proj), or all", (int)len, p);
        want[m] = true;
        if (p[len] == 0)
            return 0;
        p += len + 1;
    }
}

static int parse_method(const char *opt, const char *s, bool allow_none, int *method, hp_hyp_form *form, hp_err *err)
{
    *form = HP_HYP_CONSISTENT;
    if (strcmp(s, "lora") == 0)
        *method = HP_ADAPTER_LORA;
    else if (strcmp(s, "hyplora") == 0)
        *method = HP_ADAPTER_HYPLORA;
    else if (strcmp(s, "hyplora-released") == 0)
        *method = HP_ADAPTER_HYPLORA, *form = HP_HYP_RELEASED;
    else if (allow_none && strcmp(s, "none") == 0)
        *method = -1;
    else
        return hp_fail(err, "%s expects lora, hyplora or hyplora-released%s, got '%s'", opt,
                       allow_none ? " (or none)" : "", s);
    return 0;
}

int train_plan_build(const train_plan_options *o, const hp_config *c, hp_adapter_spec **spec, size_t *n,
                     hp_err *err)
{
    *spec = NULL;
    *n = 0;
    int method = HP_ADAPTER_LORA, other = HP_ADAPTER_LORA;
    hp_hyp_form form, unused;
    bool modules[HP_N_MODULES];
    if (parse_method("--method", o->method, false, &method, &form, err) || parse_targets(o->targets, modules, err))
        return -1;
    if (o->hyperbolic_layers && method == HP_ADAPTER_LORA)
        return hp_fail(err, "--hyperbolic-layers gives HypLoRA to some layers: --method must then be hyplora or "
                            "hyplora-released, not lora");
    if (o->hyperbolic_layers && (parse_method("--other", o->other, true, &other, &unused, err) ||
                                 (other == HP_ADAPTER_HYPLORA &&
                                  hp_fail(err, "--other expects lora or none, got '%s'", o->other))))
        return -1;
    int L = c->n_layers;
    bool *adapted = hp_calloc((size_t)L, sizeof *adapted, "the layer list", err);
    bool *hyperbolic = adapted ? hp_calloc((size_t)L, sizeof *hyperbolic, "the layer list", err) : NULL;
    int rc = hyperbolic ? cli_parse_list("--layers", o->layers, L - 1, adapted, err) : -1;
    if (rc == 0 && o->hyperbolic_layers) {
        rc = cli_parse_list("--hyperbolic-layers", o->hyperbolic_layers, L - 1, hyperbolic, err);
        for (int l = 0; rc == 0 && l < L; l++)
            if (hyperbolic[l] && !adapted[l])
                rc = hp_fail(err, "--hyperbolic-layers names layer %d, which --layers leaves out", l);
    }
    size_t cap = (size_t)L * HP_N_MODULES;
    if (rc == 0 && !(*spec = hp_calloc(cap, sizeof **spec, "the plan", err)))
        rc = -1;
    for (int l = 0; rc == 0 && l < L; l++) {
        int m_l = !adapted[l] ? -1 : (!o->hyperbolic_layers || hyperbolic[l]) ? method : other;
        for (int m = 0; m_l >= 0 && m < HP_N_MODULES; m++) {
            if (!modules[m])
                continue;
            bool hyp = m_l == HP_ADAPTER_HYPLORA;
            (*spec)[(*n)++] = (hp_adapter_spec){.layer = l, .module = (hp_module)m, .method = (hp_adapter_method)m_l,
                                                .form = form, .rank = o->rank,
                                                .alpha = hyp ? o->alpha_hyperbolic : o->alpha, .rslora = o->rslora,
                                                .initial_K = o->curvature, .dropout = o->dropout};
        }
    }
    if (rc == 0 && *n == 0)
        rc = hp_fail(err, "the plan adapts no module: every layer is left out (--layers, --other none)");
    if (rc) {
        free(*spec);
        *spec = NULL;
        *n = 0;
    }
    free(adapted);
    free(hyperbolic);
    return rc;
}
