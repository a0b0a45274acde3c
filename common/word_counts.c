/* Word counts: an open-addressing hash table (linear probing, power-of-two size, at most
 * half full) whose keys live in one growing byte arena, referenced by offset because the
 * arena moves as it grows. Counting on threads gives each worker its own table and
 * merges them at the end. */
#include <stdlib.h>
#include <string.h>

#include "hyplora/freq.h"
#include "parallel.h"

typedef struct slot {
    uint64_t hash; /* 0: empty (a real hash of 0 is stored as 1) */
    size_t off;    /* the word's bytes in the arena */
    size_t len;
    int64_t count;
} slot;

struct hp_word_counts {
    slot *slots;
    size_t cap, n;
    char *arena;
    size_t arena_n, arena_cap;
    int64_t total;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a, then a final mix for the low bits */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h ? h : 1;
}

hp_word_counts *hp_word_counts_new(hp_err *err)
{
    hp_word_counts *wc = hp_calloc(1, sizeof *wc, "a word table", err);
    if (wc && !(wc->slots = hp_calloc(wc->cap = 1024, sizeof *wc->slots, "a word table", err))) {
        free(wc);
        return NULL;
    }
    return wc;
}

void hp_word_counts_free(hp_word_counts *wc)
{
    if (!wc)
        return;
    free(wc->slots);
    free(wc->arena);
    free(wc);
}

static slot *find(const hp_word_counts *wc, const char *w, size_t len, uint64_t h)
{
    size_t mask = wc->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        slot *s = &wc->slots[i];
        if (s->hash == 0 ||
            (s->hash == h && s->len == len && memcmp(wc->arena + s->off, w, len) == 0))
            return s;
    }
}

static int rehash(hp_word_counts *wc, hp_err *err)
{
    size_t cap = wc->cap * 2;
    slot *old = wc->slots, *ns = hp_calloc(cap, sizeof *ns, "the word table", err);
    if (!ns)
        return -1;
    for (size_t i = 0; i < wc->cap; i++) {
        if (!old[i].hash)
            continue;
        size_t k = old[i].hash & (cap - 1);
        while (ns[k].hash)
            k = (k + 1) & (cap - 1);
        ns[k] = old[i];
    }
    wc->slots = ns;
    wc->cap = cap;
    free(old);
    return 0;
}

static int add_hashed(hp_word_counts *wc, const char *w, size_t len, uint64_t h, int64_t count,
                      hp_err *err)
{
    slot *s = find(wc, w, len, h);
    if (s->hash == 0) {
        if (hp_grow((void **)&wc->arena, &wc->arena_cap, wc->arena_n + len + 1, 1,
                    "the words", err) != 0)
            return -1;
        memcpy(wc->arena + wc->arena_n, w, len);
        wc->arena[wc->arena_n + len] = 0; /* so that sorted() can hand out C strings */
        *s = (slot){h, wc->arena_n, len, 0};
        wc->arena_n += len + 1;
        wc->n++;
    }
    s->count += count;
    wc->total += count;
    return 2 * wc->n > wc->cap ? rehash(wc, err) : 0;
}

int hp_word_counts_add(hp_word_counts *wc, const char *word, size_t len, int64_t count,
                       hp_err *err)
{
    return add_hashed(wc, word, len, hash_bytes(word, len), count, err);
}

size_t hp_word_counts_size(const hp_word_counts *wc) { return wc->n; }
int64_t hp_word_counts_total(const hp_word_counts *wc) { return wc->total; }

int64_t hp_word_counts_get(const hp_word_counts *wc, const char *word, size_t len)
{
    return find(wc, word, len, hash_bytes(word, len))->count;
}

typedef struct ranked {
    const char *w;
    size_t len;
    int64_t count;
} ranked;

static int by_count(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->w, y->w, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

int hp_word_counts_sorted(const hp_word_counts *wc, const char ***words, int64_t **counts,
                          hp_err *err)
{
    size_t n = wc->n;
    ranked *r = hp_malloc((n ? n : 1) * sizeof *r, "the ranked words", err);
    *words = hp_malloc((n ? n : 1) * sizeof **words, "the ranked words", err);
    *counts = hp_malloc((n ? n : 1) * sizeof **counts, "the ranked counts", err);
    if (!r || !*words || !*counts) {
        free(r);
        free(*words);
        free(*counts);
        *words = NULL;
        *counts = NULL;
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < wc->cap; i++)
        if (wc->slots[i].hash)
            r[k++] = (ranked){wc->arena + wc->slots[i].off, wc->slots[i].len, wc->slots[i].count};
    qsort(r, n, sizeof *r, by_count);
    for (size_t i = 0; i < n; i++) {
        (*words)[i] = r[i].w;
        (*counts)[i] = r[i].count;
    }
    free(r);
    return 0;
}

/* ---- counting on threads ---- */

typedef struct word_job {
    const char *const *texts;
    const size_t *lens;
    hp_word_counts **tables; /* one per worker */
} word_job;

typedef struct word_ctx {
    hp_word_counts *wc;
    hp_err *err;
} word_ctx;

static int on_word(const char *w, size_t len, void *ctx)
{
    word_ctx *c = ctx;
    return hp_word_counts_add(c->wc, w, len, 1, c->err) ? 1 : 0;
}

static int words_chunk(void *ctx, int worker, size_t begin, size_t end, hp_err *err)
{
    word_job *j = ctx;
    if (!j->tables[worker] && !(j->tables[worker] = hp_word_counts_new(err)))
        return -1;
    word_ctx c = {j->tables[worker], err};
    for (size_t i = begin; i < end; i++) {
        int rc = hp_words_each(j->texts[i], j->lens[i], on_word, &c);
        if (rc == 1)
            return -1; /* on_word's error is in err */
        if (rc != 0)
            return hp_fail(err, "out of memory splitting text into words");
    }
    return 0;
}

int hp_count_words(const char *const *texts, const size_t *lens, size_t n, int threads,
                   hp_word_counts *wc, hp_err *err)
{
    int n_workers = hp_threads_resolve(threads, (n + 63) / 64);
    word_job j = {texts, lens, hp_calloc((size_t)n_workers, sizeof *j.tables, "word tables", err)};
    if (!j.tables)
        return -1;
    int rc = hp_parallel_for(n_workers, n, 64, words_chunk, &j, err);
    for (int w = 0; w < n_workers; w++) {
        hp_word_counts *t = j.tables[w];
        for (size_t i = 0; rc == 0 && t && i < t->cap; i++)
            if (t->slots[i].hash)
                rc = add_hashed(wc, t->arena + t->slots[i].off, t->slots[i].len, t->slots[i].hash,
                                t->slots[i].count, err);
        hp_word_counts_free(t);
    }
    free(j.tables);
    return rc;
}
