/* The recommendation of a report (/recommend): HypLoRA's initial curvature and the layers
 * that get it, from the δ of /delta (docs/recommend.md). The rule in two sentences:
 *
 *   The initial curvature is K = 1/c, with Khrulkov's c = (0.144 / δ_rel)^2 of the mean
 *   per-prompt δ_rel of the input embeddings (/delta/embeddings), clamped to [k_min, k_max].
 *   HypLoRA goes on the `fraction` of the decoder layers whose input hidden states have the
 *   lowest mean δ_rel (/delta/layers: the most tree-like), `other` (LoRA) on the rest.
 *
 * Every part can be set instead: K itself, the fraction, the clamp, the method of the rest. */
#ifndef HYPLORA_RECOMMEND_H
#define HYPLORA_RECOMMEND_H

#include "cli.h"

typedef struct recommend_options {
    double curvature;     /* > 0: this K, not the one from δ */
    double fraction;      /* of the decoder layers that get HypLoRA, in (0, 1] (0.5) */
    double k_min, k_max;  /* the clamp of K from δ (0.1, 10) */
    const char *other;    /* the method of the other layers: "lora" or "none" */
} recommend_options;

void recommend_options_init(recommend_options *o);

/* Reads /delta/embeddings and /delta/layers of the report, writes /recommend into it and
 * prints the plan. Fails naming what is missing (the analyses that make it). */
int recommend_write(const char *report, const recommend_options *o, hp_err *err);

#endif
