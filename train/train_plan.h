/* The plan of a training run from the command line (docs/training.md): which modules of
 * which layers get an adapter, and each one's method, rank, alpha and initial curvature. */
#ifndef HYPLORA_TRAIN_PLAN_H
#define HYPLORA_TRAIN_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "hyplora.h"

typedef struct train_plan_options {
    const char *method;            /* lora, hyplora (the consistent form) or hyplora-released */
    const char *hyperbolic_layers; /* NULL: every adapted layer gets `method` */
    const char *other;             /* lora or none: the adapted layers outside hyperbolic_layers */
    const char *layers;            /* the adapted layers: "all" or a list */
    const char *targets;           /* the adapted modules: "q,k,v,up,down" */
    int rank;
    double alpha;                  /* LoRA modules (64) */
    double alpha_hyperbolic;       /* HypLoRA modules (128) */
    bool rslora;
    double curvature;              /* the initial K of HypLoRA modules */
    double dropout;
    /* --report: the options above that the command line left alone come from its
     * /recommend (train_plan_from_report); `given` says which were given */
    const char *report;
    struct {
        bool method, hyperbolic_layers, other, layers, curvature;
    } given;
    char source[4200];       /* where the plan came from: "options", or the report and the overrides */
    char rule[1024];         /* the report's rule, in words ("" without a report) */
    char report_layers[2048], report_hyperbolic[2048]; /* the lists taken from the report */
} train_plan_options;

void train_plan_options_init(train_plan_options *o);

/* Builds the plan for a model of config c: *spec (malloc'd, *n entries, layer-major in module
 * order). Fails naming the option on an unknown method or module, a layer out of range, or
 * a plan with no adapter. The rank is checked by hp_adapter_set_init. */
int train_plan_build(const train_plan_options *o, const hp_config *c, hp_adapter_spec **spec, size_t *n,
                     hp_err *err);

/* With o->report: fills the options not given from the report's /recommend (made for a
 * model of n_layers layers) and describes the source in o->source. Fails naming the report
 * when it has no /recommend or one for another number of layers. */
int train_plan_from_report(train_plan_options *o, int n_layers, hp_err *err);

#endif
