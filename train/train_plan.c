/* The plan of a training run from its options (train/train_plan.h). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "train_plan.h"

void train_plan_options_init(train_plan_options *o)
{
    *o = (train_plan_options){.method = "hyplora", .other = "lora", .layers = "all", .targets = "q,k,v,up,down",
                              .rank = 32, .alpha = 64, .alpha_hyperbolic = 128, .curvature = 1.0, .dropout = 0.05,
                              .source = "options"};
}

/* Appends layer l to a comma-separated list. */
static void list_add(char *list, size_t cap, int l)
{
    size_t n = strlen(list);
    snprintf(list + n, cap - n, "%s%d", n ? "," : "", l);
}

int train_plan_from_report(train_plan_options *o, int n_layers, hp_err *err)
{
    if (!o->report)
        return 0;
    const char *r = o->report;
    int has = hp_report_has(r, "/recommend", err);
    if (has <= 0)
        return has < 0 ? -1
                       : hp_fail(err, "--report %s has no /recommend: make it with hyplora analyze MODEL --data FILE -o %s",
                                 r, r);
    char **method = NULL, *rule = NULL;
    size_t n = 0;
    int64_t *layer = NULL, n_layer_entries;
    double K;
    int rc = hp_report_read_strings(r, "/recommend/method", &method, &n, err) ||
                     hp_report_read_i64(r, "/recommend/layer", &layer, &n_layer_entries, err) ||
                     hp_report_read_attr_f64(r, "/recommend", "curvature_k", &K, err) ||
                     hp_report_read_attr_str(r, "/recommend", "rule", &rule, err)
                 ? -1
                 : 0;
    if (rc == 0 && (n != (size_t)n_layers || n_layer_entries != n_layers))
        rc = hp_fail(err, "--report %s: /recommend plans %zu layers but the model has %d (made for another model?)", r,
                     n, n_layers);
    o->report_layers[0] = o->report_hyperbolic[0] = '\0';
    /* --layers given: the report's HypLoRA layers among those */
    bool *keep = rc == 0 ? hp_calloc((size_t)n_layers, sizeof *keep, "the layer list", err) : NULL;
    if (rc == 0 && (!keep || (o->given.layers && cli_parse_list("--layers", o->layers, n_layers - 1, keep, err))))
        rc = -1;
    size_t n_hyp = 0, n_adapted = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int l = (int)layer[i];
        if (l < 0 || l >= n_layers) {
            rc = hp_fail(err, "--report %s: /recommend/layer holds %d, not a layer of the model", r, l);
            break;
        }
        bool adapted = o->given.layers ? keep[l] : strcmp(method[i], "none") != 0;
        if (strcmp(method[i], "hyplora") && strcmp(method[i], "lora") && strcmp(method[i], "none"))
            rc = hp_fail(err, "--report %s: /recommend/method of layer %d is \"%s\", not hyplora, lora or none", r, l,
                         method[i]);
        else if (adapted && strcmp(method[i], "hyplora") == 0)
            list_add(o->report_hyperbolic, sizeof o->report_hyperbolic, l), n_hyp++;
        if (adapted)
            list_add(o->report_layers, sizeof o->report_layers, l), n_adapted++;
    }
    free(keep);
    if (rc == 0) {
        if (!o->given.layers)
            o->layers = n_adapted == n ? "all" : o->report_layers;
        if (!o->given.method && n_hyp == 0)
            o->method = "lora";
        if (!o->given.hyperbolic_layers && n_hyp > 0 && n_hyp < n_adapted && strcmp(o->method, "lora"))
            o->hyperbolic_layers = o->report_hyperbolic;
        if (!o->given.other)
            o->other = "lora";
        if (!o->given.curvature)
            o->curvature = K;
        snprintf(o->rule, sizeof o->rule, "%s", rule);
        int at = snprintf(o->source, sizeof o->source, "report %s (/recommend)", r);
        const char *names[] = {"--method", "--hyperbolic-layers", "--other", "--layers", "--curvature"};
        bool flags[] = {o->given.method, o->given.hyperbolic_layers, o->given.other, o->given.layers,
                        o->given.curvature};
        for (int i = 0, first = 1; i < 5; i++)
            if (flags[i] && at < (int)sizeof o->source) {
                at += snprintf(o->source + at, sizeof o->source - (size_t)at, "%s%s", first ? "; overridden: " : ", ",
                               names[i]);
                first = 0;
            }
    }
    hp_report_free_strings(method, n);
    free(layer);
    free(rule);
    return rc;
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
