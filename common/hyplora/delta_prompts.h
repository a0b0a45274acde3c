/* The paper's per-prompt δ protocol, over token ids (docs/delta.md): each item (a prompt's
 * tokens, BOS first) is a set of points, either the rows of an embedding matrix for those
 * ids or the hidden states a model computes for them at each layer; δ per item, through
 * hp_delta_sets. The one-pass analysis and `hyplora delta --data` both call these. */
#ifndef HYPLORA_DELTA_PROMPTS_H
#define HYPLORA_DELTA_PROMPTS_H

#include <stddef.h>
#include <stdint.h>

#include "hyplora/delta.h"
#include "hyplora/forward.h"
#include "hyplora/model.h"

/* The items: item i is rows[start[i] .. start[i+1]) (token ids, or row indices of a
 * matrix), at least 4 each. */
typedef struct hp_delta_items {
    size_t n;
    const size_t *start; /* [n + 1] */
    const int64_t *rows;
} hp_delta_items;

/* A matrix whose rows are the points: float32 in memory (f32), or a 2-D tensor of an open
 * model, widened row by row as it is read (no other row is touched). */
typedef struct hp_delta_matrix {
    const float *f32;
    const hp_model *model;
    const hp_tensor *tensor;
    size_t rows, dim;
} hp_delta_matrix;

/* δ of each item's rows of m into out[i] (opt as for hp_delta_sets; opt->base indexes the
 * items). Fails on a row out of range, naming the item. */
int hp_delta_prompts(const hp_delta_matrix *m, const hp_delta_items *items, const hp_delta_sets_options *opt,
                     hp_delta_result *out, hp_err *err);

typedef struct hp_delta_layers_options {
    hp_delta_sets_options sets; /* distance, base, exact, threads, names, progress (items done) */
    int batch;                  /* sequences per forward batch; 0: as many as keep a batch's
                                   hidden states within about 1 GiB, at most 16 */
} hp_delta_layers_options;

/* δ of the hidden states entering each layer layers[k] (0 .. n_layers of the model: l <
 * n_layers is the input of decoder layer l, 0 the token embeddings; n_layers the output of
 * the last layer before the final norm) of each item (token ids, run as one sequence each)
 * into out[k * items->n + i]. Items go through the model in batches of similar length,
 * longest first; the results do not depend on the batch size beyond float32 round-off.
 * opt->sets.part and parts share out the batches, each run as the whole run runs it, so the
 * shares together give the whole run's results exactly.
 * Fails on a layer out of range, or an item longer than the model's context. */
int hp_delta_layers(const hp_fwd_model *fm, const hp_delta_items *items, const int *layers, size_t n_layers,
                    const hp_delta_layers_options *opt, hp_delta_result *out, hp_err *err);

#endif
