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
} train_plan_options;

void train_plan_options_init(train_plan_options *o);

/* Builds the plan for a model of config c: *spec (malloc'd, *n entries, layer-major in module
 * order). Fails naming the option on an unknown method or module, a layer out of range, or
 * a plan with no adapter. The rank is checked by hp_adapter_set_init. */
int train_plan_build(const train_plan_options *o, const hp_config *c, hp_adapter_spec **spec, size_t *n,
                     hp_err *err);

#endif
