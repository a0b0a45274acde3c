/* Greedy decoding with continuous batching, and beam search (eval_decode.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval_decode.h"

/* The KV cache positions a prompt may fill: the prompt and max_new tokens, at most the
 * model's context. */
static int capacity(const hp_fwd_model *fm, const hp_ids *prompts, size_t n, int max_new, int *longest, hp_err *err)
{
    int ctx = fm->config.max_position_embeddings;
    *longest = 1;
    for (size_t i = 0; i < n; i++) {
        if (prompts[i].n == 0)
            return hp_fail(err, "prompt %zu encodes to no tokens", i);
        if (ctx > 0 && prompts[i].n > (size_t)ctx)
            return hp_fail(err, "prompt %zu has %zu tokens but the model's context holds %d", i, prompts[i].n, ctx);
        if ((int)prompts[i].n > *longest)
            *longest = (int)prompts[i].n;
    }
    long cap = (long)*longest + max_new;
    return ctx > 0 && cap > ctx ? ctx : (int)cap;
}

/* Runs prompts[0 .. k) as one padded batch into cache `pre` (reset) and writes the logits
 * of each one's last position to logits [k, V]. */
static int prefill(const hp_fwd_model *fm, hp_fwd_acts *acts, hp_fwd_cache *pre, const hp_ids *const *prompts, int k,
                   int32_t *tokens, int *lengths, float *logits, hp_err *err)
{
    int T = 0;
    for (int j = 0; j < k; j++)
        if ((int)prompts[j]->n > T)
            T = (int)prompts[j]->n;
    for (int j = 0; j < k; j++) {
        lengths[j] = (int)prompts[j]->n;
        for (int t = 0; t < T; t++)
            tokens[(size_t)j * T + t] = t < lengths[j] ? prompts[j]->ids[t] : 0;
    }
    if (hp_fwd_run(fm, acts, pre, tokens, lengths, k, T, NULL, NULL, err))
        return -1;
    hp_fwd_last_logits(fm, acts, lengths, k, T, logits);
    return 0;
}

/* A sequence in the greedy batch: which prompt, the tokens so far, the one to feed next. */
typedef struct slot {
    size_t prompt;
    hp_ids out;
    int32_t pending;
} slot;

typedef struct greedy {
    const hp_fwd_model *fm;
    const eval_decode_options *o;
    hp_fwd_cache *cache;
    slot *slots;
    int live, cap;
    eval_done_fn done;
    void *ctx;
} greedy;

/* Takes token t as slot s's next: returns 1 when the sequence is finished (EOS, max_new, or
 * the cache full), 0 when t waits to be fed, -1 on error. */
static int advance(greedy *g, slot *s, int32_t t, int len, hp_err *err)
{
    if (t == g->o->eos)
        return 1;
    if (hp_ids_push(&s->out, t, err))
        return -1;
    s->pending = t;
    return s->out.n >= (size_t)g->o->max_new || len >= g->cap;
}

/* Reports slot b's sequence and gives its place to the last live slot. */
static int finish(greedy *g, int b, hp_err *err)
{
    slot *s = &g->slots[b];
    int rc = g->done(s->prompt, s->out.ids, s->out.n, g->ctx, err);
    int last = --g->live;
    if (b != last) {
        hp_fwd_cache_copy(g->fm, g->cache, b, g->cache, last);
        slot tmp = *s;
        *s = g->slots[last];
        g->slots[last] = tmp;
    }
    g->slots[last].out.n = 0;
    return rc;
}

/* Prompts longest first (ties in their order): the prompts run into free slots together are
 * then of about one length, so their padded batch wastes little. */
typedef struct by_length {
    size_t len, prompt;
} by_length;

static int longest_first(const void *a, const void *b)
{
    const by_length *x = a, *y = b;
    if (x->len != y->len)
        return x->len > y->len ? -1 : 1;
    return x->prompt < y->prompt ? -1 : x->prompt > y->prompt;
}

static int decode_greedy(const hp_fwd_model *fm, const hp_ids *prompts, size_t n, const eval_decode_options *o,
                         eval_done_fn done, void *ctx, hp_err *err)
{
    int longest, V = fm->config.vocab_size;
    int cap = capacity(fm, prompts, n, o->max_new, &longest, err);
    if (cap < 0)
        return -1;
    int B = o->batch < (long)n ? o->batch : (int)n;
    greedy g = {fm, o, NULL, NULL, 0, cap, done, ctx};
    hp_fwd_acts *acts = hp_fwd_acts_new(fm, B, longest, false, err);
    hp_fwd_cache *pre = acts ? hp_fwd_cache_new(fm, B, longest, err) : NULL;
    g.cache = pre ? hp_fwd_cache_new(fm, B, cap, err) : NULL;
    g.slots = g.cache ? hp_calloc((size_t)B, sizeof *g.slots, "the decoding slots", err) : NULL;
    int32_t *tokens = g.slots ? hp_malloc((size_t)B * longest * sizeof *tokens, "the prompts", err) : NULL;
    int *lengths = tokens ? hp_malloc((size_t)B * sizeof *lengths, "the prompt lengths", err) : NULL;
    float *logits = lengths ? hp_malloc((size_t)B * V * sizeof *logits, "the logits", err) : NULL;
    const hp_ids **batch = logits ? hp_malloc((size_t)B * sizeof *batch, "the prompt batch", err) : NULL;
    by_length *order = batch ? hp_malloc(n * sizeof *order, "the prompt order", err) : NULL;
    int rc = order ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++)
        order[i] = (by_length){prompts[i].n, i};
    if (rc == 0)
        qsort(order, n, sizeof *order, longest_first);
    size_t next = 0;
    while (rc == 0) {
        /* fill the free slots with new prompts, run as one batch */
        int k = 0;
        while (g.live + k < B && next + (size_t)k < n) {
            batch[k] = &prompts[order[next + (size_t)k].prompt];
            k++;
        }
        if (k > 0 && (rc = prefill(fm, acts, pre, batch, k, tokens, lengths, logits, err)) == 0)
            for (int j = 0; j < k && rc == 0; j++) {
                slot *s = &g.slots[g.live];
                s->prompt = order[next++].prompt;
                s->out.n = 0;
                hp_fwd_cache_copy(fm, g.cache, g.live, pre, j);
                g.live++;
                rc = advance(&g, s, hp_fwd_argmax(logits + (size_t)j * V, V), lengths[j], err);
                if (rc == 1)
                    rc = finish(&g, g.live - 1, err);
            }
        if (rc != 0 || (g.live == 0 && next == n))
            break;
        if (g.live == 0) /* every new prompt ended at once: take the next ones */
            continue;
        for (int b = 0; b < g.live; b++)
            tokens[b] = g.slots[b].pending;
        rc = hp_fwd_decode(fm, g.cache, tokens, g.live, logits, err);
        /* from the last slot down, so the slot moved into a finished one is done already */
        for (int b = g.live - 1; b >= 0 && rc == 0; b--) {
            rc = advance(&g, &g.slots[b], hp_fwd_argmax(logits + (size_t)b * V, V), g.cache->len[b], err);
            if (rc == 1)
                rc = finish(&g, b, err);
        }
    }
    for (int b = 0; g.slots && b < B; b++)
        hp_ids_free(&g.slots[b].out);
    free(order);
    free(batch);
    free(logits);
    free(lengths);
    free(tokens);
    free(g.slots);
    hp_fwd_cache_free(g.cache);
    hp_fwd_cache_free(pre);
    hp_fwd_acts_free(acts);
    return rc < 0 ? -1 : 0;
}

/* ---- beam search ---- */

/* A hypothesis: its generated tokens (tokens[0 .. len)) and summed log-probability. */
typedef struct hyp {
    int32_t *tokens;
    int len;
    double logp;
} hyp;

typedef struct cand {
    double logp;
    int beam;
    int32_t token;
} cand;

/* Better first: higher log-probability, then the lower beam and token (a fixed order). */
static bool better(const cand *a, const cand *b)
{
    if (a->logp != b->logp)
        return a->logp > b->logp;
    return a->beam != b->beam ? a->beam < b->beam : a->token < b->token;
}

/* Keeps the best `want` candidates in top[0 .. *n), best first. */
static void offer(cand *top, int *n, int want, cand c)
{
    if (*n == want && !better(&c, &top[*n - 1]))
        return;
    int i = *n < want ? (*n)++ : want - 1;
    while (i > 0 && better(&c, &top[i - 1])) {
        top[i] = top[i - 1];
        i--;
    }
    top[i] = c;
}

/* log-softmax of one logits row into out. */
static void log_softmax(const float *logits, int V, double *out)
{
    double mx = logits[hp_fwd_argmax(logits, V)], sum = 0;
    for (int i = 0; i < V; i++)
        sum += exp((double)logits[i] - mx);
    double lse = mx + log(sum);
    for (int i = 0; i < V; i++)
        out[i] = (double)logits[i] - lse;
}

typedef struct beam_search {
    int N, max_new, V;
    hyp *live, *next;    /* [N] each, tokens [max_new] each */
    int n_live;
    hyp *done;           /* [N] the best finished, by score */
    int n_done;
    double *logp;        /* [V] */
    cand *top;           /* [2N] */
} beam_search;

static double score(const hyp *h)
{
    return h->logp / (h->len > 0 ? h->len : 1);
}

/* Keeps h (copied) among the N best finished hypotheses. */
static void keep_finished(beam_search *bs, const hyp *h)
{
    int N = bs->N, i = bs->n_done;
    if (i == N) {
        int worst = 0;
        for (int j = 1; j < N; j++)
            if (score(&bs->done[j]) < score(&bs->done[worst]))
                worst = j;
        if (score(h) <= score(&bs->done[worst]))
            return;
        i = worst;
    } else {
        bs->n_done++;
    }
    memcpy(bs->done[i].tokens, h->tokens, (size_t)h->len * sizeof *h->tokens);
    bs->done[i].len = h->len;
    bs->done[i].logp = h->logp;
}

/* One step: extends the live hypotheses by the logits [n_live, V], fills bs->next and the
 * cache `to` from `from`; returns how many live on. */
static int extend(beam_search *bs, const hp_fwd_model *fm, const float *logits, int32_t eos, hp_fwd_cache *from,
                  hp_fwd_cache *to)
{
    int N = bs->N, n_top = 0;
    for (int b = 0; b < bs->n_live; b++) {
        log_softmax(logits + (size_t)b * bs->V, bs->V, bs->logp);
        for (int v = 0; v < bs->V; v++)
            offer(bs->top, &n_top, 2 * N, (cand){bs->live[b].logp + bs->logp[v], b, v});
    }
    int n_next = 0;
    for (int r = 0; r < n_top && n_next < N; r++) {
        const cand *c = &bs->top[r];
        const hyp *parent = &bs->live[c->beam];
        hyp *h = &bs->next[n_next];
        memcpy(h->tokens, parent->tokens, (size_t)parent->len * sizeof *h->tokens);
        h->len = parent->len + 1;
        h->tokens[parent->len] = c->token;
        h->logp = c->logp;
        if (c->token == eos) {
            if (r < N) /* an EOS ranked below the beam width is not a finished hypothesis */
                keep_finished(bs, h);
            continue;
        }
        hp_fwd_cache_copy(fm, to, n_next, from, c->beam);
        n_next++;
    }
    hyp *t = bs->live;
    bs->live = bs->next;
    bs->next = t;
    return bs->n_live = n_next;
}

/* Whether no live hypothesis can beat the worst of N finished ones (scores only fall as a
 * hypothesis grows when its best continuation keeps the current mean). */
static bool settled(const beam_search *bs)
{
    if (bs->n_done < bs->N)
        return bs->n_live == 0;
    double worst = score(&bs->done[0]), best_live = -INFINITY;
    for (int j = 1; j < bs->n_done; j++)
        worst = fmin(worst, score(&bs->done[j]));
    for (int b = 0; b < bs->n_live; b++)
        best_live = fmax(best_live, score(&bs->live[b]));
    return worst >= best_live;
}

static int beam_one(const hp_fwd_model *fm, const hp_ids *prompt, int cap, const eval_decode_options *o,
                    beam_search *bs, hp_fwd_acts *acts, hp_fwd_cache *caches[2], float *logits, int32_t *tokens,
                    hp_err *err)
{
    int len = (int)prompt->n;
    const hp_ids *p = prompt;
    if (prefill(fm, acts, caches[0], &p, 1, tokens, &len, logits, err))
        return -1;
    bs->n_live = 1;
    bs->live[0].len = 0;
    bs->live[0].logp = 0;
    bs->n_done = 0;
    int cur = 0;
    for (int step = 0; step < o->max_new; step++) {
        if (extend(bs, fm, logits, o->eos, caches[cur], caches[1 - cur]) == 0 || settled(bs))
            break;
        cur = 1 - cur;
        if (step + 1 == o->max_new || caches[cur]->len[0] >= cap)
            break;
        for (int b = 0; b < bs->n_live; b++)
            tokens[b] = bs->live[b].tokens[bs->live[b].len - 1];
        if (hp_fwd_decode(fm, caches[cur], tokens, bs->n_live, logits, err))
            return -1;
    }
    for (int b = 0; b < bs->n_live; b++)
        keep_finished(bs, &bs->live[b]);
    return 0;
}

static int decode_beams(const hp_fwd_model *fm, const hp_ids *prompts, size_t n, const eval_decode_options *o,
                        eval_done_fn done, void *ctx, hp_err *err)
{
    int longest, V = fm->config.vocab_size, N = o->beams;
    int cap = capacity(fm, prompts, n, o->max_new, &longest, err);
    if (cap < 0)
        return -1;
    size_t per = (size_t)(o->max_new > 0 ? o->max_new : 1);
    beam_search bs = {.N = N, .max_new = o->max_new, .V = V};
    hyp *hyps = hp_calloc((size_t)3 * N, sizeof *hyps, "the beams", err);
    int32_t *store = hyps ? hp_malloc((size_t)3 * N * per * sizeof *store, "the beams' tokens", err) : NULL;
    bs.logp = store ? hp_malloc((size_t)V * sizeof *bs.logp, "the log-probabilities", err) : NULL;
    bs.top = bs.logp ? hp_malloc((size_t)2 * N * sizeof *bs.top, "the candidates", err) : NULL;
    float *logits = bs.top ? hp_malloc((size_t)N * V * sizeof *logits, "the logits", err) : NULL;
    int32_t *tokens = logits ? hp_malloc((size_t)(longest > N ? longest : N) * sizeof *tokens, "the tokens", err) : NULL;
    hp_fwd_acts *acts = tokens ? hp_fwd_acts_new(fm, 1, longest, false, err) : NULL;
    hp_fwd_cache *caches[2] = {acts ? hp_fwd_cache_new(fm, N, cap, err) : NULL, NULL};
    caches[1] = caches[0] ? hp_fwd_cache_new(fm, N, cap, err) : NULL;
    int rc = caches[1] ? 0 : -1;
    if (rc == 0) {
        for (int i = 0; i < 3 * N; i++)
            hyps[i].tokens = store + (size_t)i * per;
        bs.live = hyps, bs.next = hyps + N, bs.done = hyps + 2 * N;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = beam_one(fm, &prompts[i], cap, o, &bs, acts, caches, logits, tokens, err);
        int best = 0;
        for (int j = 1; j < bs.n_done; j++)
            if (score(&bs.done[j]) > score(&bs.done[best]))
                best = j;
        const hyp *h = bs.n_done ? &bs.done[best] : NULL;
        int len = h ? h->len - (h->len > 0 && h->tokens[h->len - 1] == o->eos) : 0;
        if (rc == 0)
            rc = done(i, h ? h->tokens : NULL, (size_t)len, ctx, err);
    }
    hp_fwd_cache_free(caches[1]);
    hp_fwd_cache_free(caches[0]);
    hp_fwd_acts_free(acts);
    free(tokens);
    free(logits);
    free(bs.top);
    free(bs.logp);
    free(store);
    free(hyps);
    return rc < 0 ? -1 : 0;
}

int eval_decode(const hp_fwd_model *fm, const hp_ids *prompts, size_t n, const eval_decode_options *o,
                eval_done_fn done, void *ctx, hp_err *err)
{
    if (n == 0) /* every output was made before (a resumed run) */
        return 0;
    if (o->max_new == 0) { /* nothing to generate: every output is empty */
        for (size_t i = 0; i < n; i++) {
            int rc = done(i, NULL, 0, ctx, err);
            if (rc)
                return rc < 0 ? -1 : 0;
        }
        return 0;
    }
    return o->beams > 1 ? decode_beams(fm, prompts, n, o, done, ctx, err)
                        : decode_greedy(fm, prompts, n, o, done, ctx, err);
}
