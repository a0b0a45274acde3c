/* Added tokens (special or not) are cut out of the text before anything else runs, so
 * that "<|begin_of_text|>" in a line becomes its one id whatever the normalizer or the
 * pre-tokenizer would do to it.
 *
 * Matching is leftmost-longest over all contents, like the reference's Aho-Corasick
 * automaton: the first position where any token matches wins, and there the longest
 * token. A byte trie suffices: added tokens are few (a few thousand at most) and most
 * positions fail on the root's 256-entry table. Then, per token:
 *   single_word  the match counts only if no word character touches it on either side
 *                (a discarded match is skipped over, as the automaton would);
 *   lstrip       whitespace before it is swallowed into the token (not tokenized);
 *   rstrip       whitespace after it likewise. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"

static int32_t trie_node(tk_trie *t, unsigned char byte, hp_err *err)
{
    if (hp_grow((void **)&t->nodes, &t->cap, t->n + 1, sizeof *t->nodes, "the added-token trie", err) != 0)
        return -1;
    t->nodes[t->n] = (tk_trie_node){-1, -1, -1, byte};
    return (int32_t)t->n++;
}

int tk_trie_add(tk_trie *t, const char *s, size_t n, int32_t added, hp_err *err)
{
    if (n == 0)
        return 0;
    if (t->cap == 0)
        memset(t->root_child, 0xff, sizeof t->root_child);
    unsigned char b0 = (unsigned char)s[0];
    int32_t cur = t->root_child[b0];
    if (cur < 0) {
        if ((cur = trie_node(t, b0, err)) < 0)
            return -1;
        t->root_child[b0] = cur;
        t->n_first++;
        t->first = b0;
    }
    for (size_t i = 1; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        int32_t c = t->nodes[cur].child;
        while (c >= 0 && t->nodes[c].byte != b)
            c = t->nodes[c].sibling;
        if (c < 0) {
            if ((c = trie_node(t, b, err)) < 0)
                return -1;
            t->nodes[c].sibling = t->nodes[cur].child;
            t->nodes[cur].child = c;
        }
        cur = c;
    }
    /* The same content twice keeps the first token (the loader rejects true duplicates). */
    if (t->nodes[cur].added < 0)
        t->nodes[cur].added = added;
    return 0;
}

void tk_trie_free(tk_trie *t)
{
    free(t->nodes);
    memset(t, 0, sizeof *t);
}

static int seg_push(tk_segments *o, size_t off, size_t len, int32_t added, hp_err *err)
{
    if (o->n == o->cap && hp_grow((void **)&o->v, &o->cap, o->n + 1, sizeof *o->v, "text segments", err) != 0)
        return -1;
    o->v[o->n++] = (tk_segment){off, len, added};
    return 0;
}

/* The longest token starting at s[i], or -1; *end is where it ends. */
static int32_t longest_at(const tk_trie *t, const char *s, size_t n, size_t i, size_t *end)
{
    int32_t cur = t->root_child[(unsigned char)s[i]];
    int32_t best = -1;
    size_t j = i;
    while (cur >= 0) {
        j++;
        if (t->nodes[cur].added >= 0) {
            best = t->nodes[cur].added;
            *end = j;
        }
        if (j >= n)
            break;
        unsigned char b = (unsigned char)s[j];
        int32_t c = t->nodes[cur].child;
        while (c >= 0 && t->nodes[c].byte != b)
            c = t->nodes[c].sibling;
        cur = c;
    }
    return best;
}

/* The first place from i on where a token of trie may start (n if none). */
static size_t next_start(const tk_trie *trie, const char *s, size_t n, size_t i)
{
    if (trie->cap == 0 || i >= n)
        return n;
    if (trie->n_first == 1) {
        const char *p = memchr(s + i, trie->first, n - i);
        return p ? (size_t)(p - s) : n;
    }
    while (i < n && trie->root_child[(unsigned char)s[i]] < 0)
        i++;
    return i;
}

int tk_added_split(const hp_tokenizer *t, const tk_trie *trie, const char *s, size_t n,
                   tk_segments *out, hp_err *err)
{
    out->n = 0;
    size_t done = 0; /* text before this is already in out */
    size_t i = 0;
    while ((i = next_start(trie, s, n, i)) < n) {
        size_t stop = 0;
        int32_t a = longest_at(trie, s, n, i, &stop);
        if (a < 0) {
            i++;
            continue;
        }
        const tk_added *tok = &t->added[a];
        size_t start = i;
        if (tok->single_word) {
            uint32_t before = 0, after = 0;
            if (start > 0) {
                size_t k = tk_utf8_prev_len(s, start);
                tk_utf8_next(s + start - k, k, &before);
            }
            if (stop < n)
                tk_utf8_next(s + stop, n - stop, &after);
            if ((start > 0 && tk_is_word(before)) || (stop < n && tk_is_word(after))) {
                i = stop;
                continue;
            }
        }
        if (tok->lstrip)
            start = tk_skip_ws_back(s, done, start);
        if (tok->rstrip)
            stop = tk_skip_ws(s, stop, n);
        if (start > done && seg_push(out, done, start - done, -1, err) != 0)
            return -1;
        if (seg_push(out, start, stop - start, a, err) != 0)
            return -1;
        done = i = stop;
    }
    if (done < n && seg_push(out, done, n - done, -1, err) != 0)
        return -1;
    return 0;
}
