/* The BPE model: one piece in, token ids out.
 *
 * The piece starts as one symbol per character (per byte for byte-level pieces, through
 * the GPT-2 table), each looked up in the vocabulary; a character that is not there
 * becomes its <0xXX> byte tokens (byte_fallback, only when all of them exist) or the unk
 * token (consecutive unknowns fused into one with fuse_unk) or, with neither, nothing.
 * Then the adjacent pair of lowest merge rank is merged, leftmost first among equal ranks,
 * until no adjacent pair has a merge: a binary heap of candidate merges over a linked list
 * of symbols, so a long piece (SentencePiece models have no pre-tokenizer: a whole line is
 * one piece) costs O(n log n). Stale heap entries are recognised and skipped when popped.
 * With ignore_merges a piece that is itself in the vocabulary is emitted as is. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"

/* Whether some token has U+2581 after a character other than U+2581. */
static bool meta_inside(const tk_vocab *v)
{
    for (size_t id = 0; id < v->n_ids; id++) {
        if (v->len[id] == UINT32_MAX)
            continue;
        const char *s = v->pool.p + v->off[id];
        size_t n = v->len[id];
        for (size_t k = 1; k + 3 <= n; k++)
            if (memcmp(s + k, "\xe2\x96\x81", 3) == 0 &&
                !(k >= 3 && memcmp(s + k - 3, "\xe2\x96\x81", 3) == 0))
                return true;
    }
    return false;
}

void tk_bpe_prepare(tk_bpe *bpe, const tk_vocab *v, const uint8_t *model_token)
{
    bpe->split_meta = !bpe->cont_prefix && !bpe->eow_suffix &&
                      tk_vocab_find(v, "\xe2\x96\x81", 3) >= 0 && !meta_inside(v);
    bpe->all_byte_ids = true;
    for (int b = 0; b < 256; b++) {
        char name[8];
        static const char hex[] = "0123456789ABCDEF";
        memcpy(name, "<0x", 3);
        name[3] = hex[b >> 4];
        name[4] = hex[b & 15];
        name[5] = '>';
        bpe->byte_ids[b] = tk_vocab_find(v, name, 6);
        if (bpe->byte_ids[b] >= 0 && !model_token[bpe->byte_ids[b]])
            bpe->byte_ids[b] = -1;
        if (bpe->byte_ids[b] < 0)
            bpe->all_byte_ids = false;
        char ch[2];
        uint32_t cp = tk_byte_to_cp[b];
        size_t n = 1;
        if (cp < 0x80)
            ch[0] = (char)cp;
        else
            ch[0] = (char)(0xc0 | (cp >> 6)), ch[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
        bpe->bytelevel_ids[b] = tk_vocab_find(v, ch, n);
        if (b < 128) {
            char c = (char)b;
            bpe->ascii_ids[b] = tk_vocab_find(v, &c, 1);
        }
    }
}

void tk_bpe_free(tk_bpe *bpe)
{
    tk_mergemap_free(&bpe->merges);
    free(bpe->cont_prefix);
    free(bpe->eow_suffix);
    memset(bpe, 0, sizeof *bpe);
}

/* ---- symbols and the heap ---------------------------------------------------------- */

typedef struct word {
    tk_scratch *sc;
    size_t n;
    int32_t pending_unk; /* symbols of a run of unknowns not yet added (fuse_unk) */
} word;

static int sym_push(word *w, int32_t id, hp_err *err)
{
    tk_scratch *sc = w->sc;
    if (w->n == sc->sym_cap && hp_grow((void **)&sc->sym, &sc->sym_cap, w->n + 1, sizeof *sc->sym, "BPE symbols", err) != 0)
        return -1;
    int32_t i = (int32_t)w->n++;
    sc->sym[i] = (tk_symbol){id, i - 1, -1, 1};
    if (i > 0)
        sc->sym[i - 1].next = i;
    return 0;
}

static inline bool heap_less(const tk_heapent *a, const tk_heapent *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static int heap_push(tk_scratch *sc, size_t *n, tk_heapent e, hp_err *err)
{
    if (*n == sc->heap_cap && hp_grow((void **)&sc->heap, &sc->heap_cap, *n + 1, sizeof *sc->heap, "the BPE merge queue", err) != 0)
        return -1;
    tk_heapent *h = sc->heap;
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&e, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = e;
    return 0;
}

static tk_heapent heap_pop(tk_scratch *sc, size_t *n)
{
    tk_heapent *h = sc->heap;
    tk_heapent top = h[0], last = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m)
            break;
        if (c + 1 < m && heap_less(&h[c + 1], &h[c]))
            c++;
        if (!heap_less(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (m > 0)
        h[i] = last;
    return top;
}

static int push_pair(const tk_bpe *bpe, tk_scratch *sc, size_t *hn, int32_t pos, hp_err *err)
{
    if (pos < 0)
        return 0;
    int32_t nx = sc->sym[pos].next;
    if (nx < 0)
        return 0;
    const tk_merge *m = tk_mergemap_get(&bpe->merges, sc->sym[pos].id, sc->sym[nx].id);
    if (!m)
        return 0;
    return heap_push(sc, hn, (tk_heapent){m->rank, pos, m->id}, err);
}

/* ---- initial symbols --------------------------------------------------------------- */

/* A character (or the byte-level character of a byte) missing from the vocabulary:
 * str[0..n) is its text as the model would have looked it up. */
static int unknown(const hp_tokenizer *t, word *w, const char *str, size_t n, hp_err *err)
{
    const tk_bpe *bpe = &t->bpe;
    if (bpe->byte_fallback) {
        bool all = true;
        for (size_t i = 0; i < n && all; i++)
            all = bpe->byte_ids[(unsigned char)str[i]] >= 0;
        if (all) {
            if (w->pending_unk) {
                if (sym_push(w, bpe->unk_id, err) != 0)
                    return -1;
                w->pending_unk = 0;
            }
            for (size_t i = 0; i < n; i++)
                if (sym_push(w, bpe->byte_ids[(unsigned char)str[i]], err) != 0)
                    return -1;
            return 0;
        }
    }
    if (bpe->unk_id < 0)
        return 0; /* the reference drops it */
    if (w->pending_unk && !bpe->fuse_unk && sym_push(w, bpe->unk_id, err) != 0)
        return -1;
    w->pending_unk = 1;
    return 0;
}

static int known(const hp_tokenizer *t, word *w, int32_t id, hp_err *err)
{
    if (w->pending_unk) {
        if (sym_push(w, t->bpe.unk_id, err) != 0)
            return -1;
        w->pending_unk = 0;
    }
    return sym_push(w, id, err);
}

/* Looks a symbol up in the model's vocabulary (added-only tokens do not count). */
static inline int32_t model_find(const hp_tokenizer *t, const char *s, size_t n)
{
    int32_t id = tk_vocab_find(&t->vocab, s, n);
    return id >= 0 && t->model_token[id] ? id : -1;
}

static int initial_symbols(const hp_tokenizer *t, const char *s, size_t n, bool bytelevel,
                           word *w, tk_scratch *sc, hp_err *err)
{
    const tk_bpe *bpe = &t->bpe;
    bool affix = bpe->cont_prefix || bpe->eow_suffix;
    for (size_t i = 0; i < n;) {
        const char *cs = s + i;
        size_t cl;
        char mapped[2];
        if (bytelevel) {
            unsigned char b = (unsigned char)s[i];
            cl = 1;
            if (!affix) {
                int32_t id = bpe->bytelevel_ids[b];
                if (id >= 0 && t->model_token[id]) {
                    if (known(t, w, id, err) != 0)
                        return -1;
                } else {
                    uint32_t cp = tk_byte_to_cp[b];
                    size_t ml = 1;
                    if (cp < 0x80)
                        mapped[0] = (char)cp;
                    else
                        mapped[0] = (char)(0xc0 | (cp >> 6)), mapped[1] = (char)(0x80 | (cp & 0x3f)),
                        ml = 2;
                    if (unknown(t, w, mapped, ml, err) != 0)
                        return -1;
                }
                i++;
                continue;
            }
            uint32_t cp = tk_byte_to_cp[b];
            if (cp < 0x80)
                mapped[0] = (char)cp;
            else
                mapped[0] = (char)(0xc0 | (cp >> 6)), mapped[1] = (char)(0x80 | (cp & 0x3f)), cl = 2;
            cs = mapped;
        } else {
            unsigned char c = (unsigned char)s[i];
            if (c < 0x80 && !affix) {
                int32_t id = bpe->ascii_ids[c];
                if (id >= 0 && t->model_token[id]) {
                    if (known(t, w, id, err) != 0)
                        return -1;
                } else if (unknown(t, w, s + i, 1, err) != 0) {
                    return -1;
                }
                i++;
                continue;
            }
            uint32_t cp;
            cl = tk_utf8_next(s + i, n - i, &cp);
        }
        size_t adv = bytelevel ? 1 : cl;
        const char *sym = cs;
        size_t sl = cl;
        if (affix) {
            sc->tmp.n = 0;
            if ((i > 0 && bpe->cont_prefix &&
                 tk_buf_put(&sc->tmp, bpe->cont_prefix, bpe->cont_prefix_len, err) != 0) ||
                tk_buf_put(&sc->tmp, cs, cl, err) != 0 ||
                (i + adv >= n && bpe->eow_suffix &&
                 tk_buf_put(&sc->tmp, bpe->eow_suffix, bpe->eow_suffix_len, err) != 0))
                return -1;
            sym = sc->tmp.p;
            sl = sc->tmp.n;
        }
        int32_t id = model_find(t, sym, sl);
        int rc = id >= 0 ? known(t, w, id, err) : unknown(t, w, sym, sl, err);
        if (rc != 0)
            return -1;
        i += adv;
    }
    if (w->pending_unk) {
        if (sym_push(w, bpe->unk_id, err) != 0)
            return -1;
        w->pending_unk = 0;
    }
    return 0;
}

static int bpe_word(const hp_tokenizer *t, const char *s, size_t n, bool bytelevel,
                    tk_scratch *sc, hp_ids *out, hp_err *err)
{
    const tk_bpe *bpe = &t->bpe;
    if (bpe->ignore_merges) {
        int32_t id;
        if (bytelevel) {
            sc->bytes.n = 0;
            if (tk_bytelevel_encode(s, n, &sc->bytes, err) != 0)
                return -1;
            id = model_find(t, sc->bytes.p, sc->bytes.n);
        } else {
            id = model_find(t, s, n);
        }
        if (id >= 0)
            return hp_ids_push(out, id, err);
    }
    word w = {sc, 0, 0};
    if (initial_symbols(t, s, n, bytelevel, &w, sc, err) != 0)
        return -1;
    if (w.n == 0)
        return 0;
    tk_symbol *sym = sc->sym;
    if (w.n > 1) {
        size_t hn = 0;
        /* the merge table is larger than the cache: start all first lookups at once */
        for (int32_t i = 0; i + 1 < (int32_t)w.n; i++)
            tk_mergemap_prefetch(&bpe->merges, sym[i].id, sym[i + 1].id);
        for (int32_t i = 0; i + 1 < (int32_t)w.n; i++)
            if (push_pair(bpe, sc, &hn, i, err) != 0)
                return -1;
        while (hn > 0) {
            tk_heapent e = heap_pop(sc, &hn);
            sym = sc->sym;
            if (!sym[e.pos].alive)
                continue;
            int32_t nx = sym[e.pos].next;
            if (nx < 0)
                continue;
            const tk_merge *m = tk_mergemap_get(&bpe->merges, sym[e.pos].id, sym[nx].id);
            if (!m || m->id != e.id)
                continue;
            sym[e.pos].id = e.id;
            sym[nx].alive = 0;
            sym[e.pos].next = sym[nx].next;
            if (sym[nx].next >= 0)
                sym[sym[nx].next].prev = e.pos;
            if (push_pair(bpe, sc, &hn, sym[e.pos].prev, err) != 0 ||
                push_pair(bpe, sc, &hn, e.pos, err) != 0)
                return -1;
        }
    }
    sym = sc->sym;
    for (int32_t i = 0; i >= 0; i = sym[i].next)
        if (hp_ids_push(out, sym[i].id, err) != 0)
            return -1;
    return 0;
}

/* ---- the word cache ---------------------------------------------------------------- */

/* Text repeats its words: a small per-thread cache of word -> ids (tk_wcache_ent) skips
 * the vocabulary lookups and merges of a word seen recently. The slot's key mixes the
 * word's hash with the tokenizer's serial and the byte-level flag through a bijection,
 * and the word itself is compared, so a hit is always the word, tokenizer and mode. */
static inline uint64_t wcache_key(const hp_tokenizer *t, const char *s, size_t n, bool bytelevel)
{
    return tk_hash(s, n) ^ ((t->serial << 1 | (uint64_t)bytelevel) * 0x9E3779B97F4A7C15ull);
}

static int encode_word(const hp_tokenizer *t, const char *s, size_t n, bool bytelevel,
                       tk_scratch *sc, hp_ids *out, hp_err *err)
{
    if (n == 0)
        return 0;
    if (!sc->wcache || n > TK_WCACHE_WORD)
        return bpe_word(t, s, n, bytelevel, sc, out, err);
    uint64_t key = wcache_key(t, s, n, bytelevel);
    tk_wcache_ent *e = &sc->wcache[key & (TK_WCACHE_SIZE - 1)];
    if (e->key == key && e->len == n && memcmp(e->word, s, n) == 0) {
        if (e->n_ids == 0) /* a word of characters the model drops */
            return 0;
        if (out->cap - out->n < e->n_ids &&
            hp_grow((void **)&out->ids, &out->cap, out->n + e->n_ids, sizeof *out->ids,
                    "token ids", err) != 0)
            return -1;
        memcpy(out->ids + out->n, e->ids, e->n_ids * sizeof *e->ids);
        out->n += e->n_ids;
        return 0;
    }
    size_t before = out->n;
    if (bpe_word(t, s, n, bytelevel, sc, out, err) != 0)
        return -1;
    size_t got = out->n - before;
    if (got <= TK_WCACHE_IDS) {
        e->key = key;
        e->len = (uint8_t)n;
        e->n_ids = (uint8_t)got;
        memcpy(e->word, s, n);
        if (got)
            memcpy(e->ids, out->ids + before, got * sizeof *e->ids);
    }
    return 0;
}

int tk_bpe_encode(const hp_tokenizer *t, const char *s, size_t n, bool bytelevel, tk_scratch *sc,
                  hp_ids *out, hp_err *err)
{
    if (bytelevel || !t->bpe.split_meta || t->bpe.ignore_merges || n < 64)
        return encode_word(t, s, n, bytelevel, sc, out, err);
    /* cut before each "▁" that follows another character */
    size_t start = 0;
    for (size_t i = 3; i + 3 <= n; i++) {
        if (s[i] != '\xe2' || s[i + 1] != '\x96' || s[i + 2] != '\x81')
            continue;
        if (s[i - 1] == '\x81' && s[i - 2] == '\x96' && s[i - 3] == '\xe2')
            continue;
        if (encode_word(t, s + start, i - start, false, sc, out, err) != 0)
            return -1;
        start = i;
    }
    return encode_word(t, s + start, n - start, false, sc, out, err);
}
