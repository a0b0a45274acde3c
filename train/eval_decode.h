/* The decoding `hyplora eval` runs: greedy with continuous batching, or beam search, both
 * over the KV cache (hyplora/forward.h).
 *
 * Greedy keeps up to `batch` sequences in the cache. New prompts run through the model
 * together into a cache of their own and are moved into free slots; every step decodes one
 * token of each slot; a finished sequence's slot is given the last one's, so the step
 * always runs the live sequences only and a slot is refilled as soon as it is free.
 *
 * Beam search keeps `beams` hypotheses of one prompt. Each step extends every hypothesis by
 * every token and keeps the `beams` best continuations by summed log-probability; one that
 * ends with EOS among the `beams` best candidates is set aside as finished, scored by its
 * summed log-probability over its length (tokens generated, EOS included). The search ends
 * when `beams` are finished and no live one can score better, or at max_new (the live ones
 * then count as finished); the best finished one is the answer. */
#ifndef HYPLORA_EVAL_DECODE_H
#define HYPLORA_EVAL_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "hyplora.h"

typedef struct eval_decode_options {
    int batch;   /* sequences decoded together (greedy) */
    int beams;   /* 1: greedy */
    int max_new; /* tokens generated at most; the context may stop it earlier */
    int32_t eos;
} eval_decode_options;

/* Called as each prompt finishes, with its generated ids (without EOS). Return 0 to go on,
 * 1 to stop decoding (eval_decode then returns 0), -1 after setting err. */
typedef int (*eval_done_fn)(size_t prompt, const int32_t *ids, size_t n, void *ctx, hp_err *err);

/* Generates a continuation of each of prompts[0 .. n). Fails when a prompt does not fit
 * the model's context. */
int eval_decode(const hp_fwd_model *fm, const hp_ids *prompts, size_t n, const eval_decode_options *o,
                eval_done_fn done, void *ctx, hp_err *err);

#endif
