/* Counting token ids over a batch of texts: each worker encodes its chunks into a private
 * count array, and the arrays are added up at the end, so no counter is shared. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/freq.h"
#include "parallel.h"

#define CHUNK 64 /* texts per chunk: small enough to balance, big enough to amortise */

typedef struct worker_state {
    int64_t *counts;
    int64_t n_tokens;
    hp_ids ids;
} worker_state;

typedef struct count_job {
    const hp_tokenizer *t;
    const char *const *texts;
    const size_t *lens;
    bool add_special;
    size_t vocab;
    worker_state *w;
    atomic_size_t bad_text; /* the first text that failed: lies in the failed chunk that
                               starts first, whose error hp_parallel_for returns */
} count_job;

static void note_bad(count_job *j, size_t i)
{
    size_t cur = atomic_load(&j->bad_text);
    while (i < cur && !atomic_compare_exchange_weak(&j->bad_text, &cur, i))
        ;
}

static int count_chunk(void *ctx, int worker, size_t begin, size_t end, hp_err *err)
{
    count_job *j = ctx;
    worker_state *w = &j->w[worker];
    if (!w->counts && !(w->counts = hp_calloc(j->vocab, sizeof *w->counts, "token counts", err)))
        return -1;
    for (size_t i = begin; i < end; i++) {
        w->ids.n = 0;
        if (hp_tokenizer_encode(j->t, j->texts[i], j->lens[i], j->add_special, &w->ids, err) ||
            hp_count_ids(w->ids.ids, w->ids.n, w->counts, j->vocab, err)) {
            note_bad(j, i);
            return -1;
        }
        w->n_tokens += (int64_t)w->ids.n;
    }
    return 0;
}

int hp_count_ids(const int32_t *ids, size_t n, int64_t *counts, size_t vocab, hp_err *err)
{
    for (size_t k = 0; k < n; k++)
        if (ids[k] < 0 || (size_t)ids[k] >= vocab)
            return hp_fail(err, "token id %d (at position %zu) is outside the vocabulary of %zu "
                                "ids", ids[k], k, vocab);
    for (size_t k = 0; k < n; k++)
        counts[ids[k]]++;
    return 0;
}

int hp_count_tokens(const hp_tokenizer *t, const char *const *texts, const size_t *lens,
                    size_t n, bool add_special, int threads, int64_t *counts, int64_t *n_tokens,
                    size_t *bad_text, hp_err *err)
{
    if (bad_text)
        *bad_text = n;
    int n_workers = hp_threads_resolve(threads, (n + CHUNK - 1) / CHUNK);
    count_job j = {.t = t, .texts = texts, .lens = lens, .add_special = add_special,
                   .vocab = hp_tokenizer_vocab_size(t)};
    atomic_init(&j.bad_text, n);
    j.w = hp_calloc((size_t)n_workers, sizeof *j.w, "the workers' state", err);
    if (!j.w)
        return -1;
    int rc = hp_parallel_for(n_workers, n, CHUNK, count_chunk, &j, err);
    for (int w = 0; w < n_workers; w++) {
        if (rc == 0 && j.w[w].counts) {
            for (size_t id = 0; id < j.vocab; id++)
                counts[id] += j.w[w].counts[id];
            *n_tokens += j.w[w].n_tokens;
        }
        free(j.w[w].counts);
        hp_ids_free(&j.w[w].ids);
    }
    free(j.w);
    if (rc != 0 && bad_text)
        *bad_text = atomic_load(&j.bad_text);
    return rc;
}
