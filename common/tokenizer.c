/* The tokenizer's public face: loading by kind of path, encode, decode, accessors.
 *
 * encode, as the reference:
 *   1. invalid UTF-8 bytes become U+FFFD (one per maximal ill-formed subpart);
 *   2. added tokens whose `normalized` is false are cut out of the raw text;
 *   3. each stretch between them is normalized, then added tokens whose `normalized` is
 *      true are cut out of the normalized text (their contents normalized at load);
 *   4. each remaining stretch is pre-tokenized into pieces, each piece goes through BPE;
 *   5. with add_special, the post-processor's ids go around the result. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/file.h"
#include "hyplora/gguf.h"
#include "tokenizer_impl.h"

/* ---- building ---------------------------------------------------------------------- */

int tk_add_token(hp_tokenizer *t, int32_t id, const char *s, size_t n, bool special, bool lstrip,
                 bool rstrip, bool single_word, bool normalized, hp_err *err)
{
    if (n == 0)
        return hp_fail(err, "the content is empty");
    if (id < 0 || (size_t)id >= t->vocab.n_ids)
        return hp_fail(err, "id %d is out of range", (int)id);
    size_t have_len;
    const char *have = tk_vocab_str(&t->vocab, id, &have_len);
    if (have && (have_len != n || memcmp(have, s, n) != 0))
        return hp_fail(err, "id %d is already the token \"%.*s\"", (int)id, (int)have_len, have);
    int32_t other = tk_vocab_find(&t->vocab, s, n);
    if (other >= 0 && other != id)
        return hp_fail(err, "the same content already has id %d", (int)other);
    if (t->added_of_id[id] >= 0)
        return hp_fail(err, "id %d is already an added token", (int)id);
    if (!have) {
        int32_t dup;
        if (tk_vocab_set(&t->vocab, id, s, n, &dup, err) != 0)
            return -1;
    }
    tk_added *v = hp_realloc(t->added, (t->n_added + 1) * sizeof *v, "added tokens", err);
    if (!v)
        return -1;
    t->added = v;
    tk_added *a = &t->added[t->n_added];
    *a = (tk_added){id, NULL, n, special, lstrip, rstrip, single_word, normalized};
    a->content = hp_malloc(n + 1, "an added token", err);
    if (!a->content)
        return -1;
    memcpy(a->content, s, n);
    a->content[n] = 0;
    t->added_of_id[id] = (int32_t)t->n_added++;
    return 0;
}

/* The id of the first special added token with one of these contents, or -1. */
static int32_t find_special(const hp_tokenizer *t, const char *const *names)
{
    for (; *names; names++) {
        int32_t id = tk_vocab_find(&t->vocab, *names, strlen(*names));
        if (id >= 0)
            return id;
    }
    return -1;
}

int tk_finish(hp_tokenizer *t, const char *kind, hp_err *err)
{
    tk_bpe_prepare(&t->bpe, &t->vocab, t->model_token);
    t->split = tk_pretok_single_split(t->pretok, &t->split_bytelevel);
    tk_scratch sc;
    if (tk_scratch_init(&sc, err) != 0)
        return -1;
    int rc = -1;
    for (size_t i = 0; i < t->n_added; i++) {
        const tk_added *a = &t->added[i];
        if (!a->normalized || !t->normalizer) {
            /* without a normalizer a normalized token still waits for the second pass */
            tk_trie *tr = a->normalized ? &t->trie_norm : &t->trie_raw;
            if (tk_trie_add(tr, a->content, a->len, (int32_t)i, err) != 0)
                goto out;
            *(a->normalized ? &t->has_norm : &t->has_raw) = true;
            continue;
        }
        if (tk_normalize(t->normalizer, a->content, a->len, &sc.norm, &sc, err) != 0 ||
            tk_trie_add(&t->trie_norm, sc.norm.p, sc.norm.n, (int32_t)i, err) != 0)
            goto out;
        t->has_norm = true;
    }
    if (t->bos < 0) {
        if (t->post.n_prefix > 0)
            t->bos = t->post.prefix[0];
        else {
            static const char *const names[] = {"<s>", "<|begin_of_text|>", "<bos>", NULL};
            t->bos = find_special(t, names);
        }
    }
    if (t->eos < 0) {
        if (t->post.n_suffix > 0)
            t->eos = t->post.suffix[t->post.n_suffix - 1];
        else {
            static const char *const names[] = {"</s>", "<|end_of_text|>", "<eos>", "<|endoftext|>", NULL};
            t->eos = find_special(t, names);
        }
    }
    snprintf(t->describe, sizeof t->describe, "BPE, %s, %zu tokens (%zu added)", kind,
             t->vocab.n_ids, t->n_added);
    rc = 0;
out:
    tk_scratch_free(&sc);
    return rc;
}

/* ---- loading ----------------------------------------------------------------------- */

static bool is_gguf(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return false;
    char magic[4] = {0};
    size_t got = fread(magic, 1, 4, fp);
    fclose(fp);
    return got == 4 && memcmp(magic, "GGUF", 4) == 0;
}

/* merges.txt or vocab.bpe beside a vocab.json / encoder.json. */
static char *pair_merges(const char *vocab_path, hp_err *err)
{
    const char *slash = strrchr(vocab_path, '/');
    size_t dirlen = slash ? (size_t)(slash - vocab_path) : 0;
    static const char *const names[] = {"merges.txt", "vocab.bpe"};
    for (size_t i = 0; i < 2; i++) {
        char *p = hp_malloc(dirlen + 16, "a path", err);
        if (!p)
            return NULL;
        if (slash)
            memcpy(p, vocab_path, dirlen + 1);
        strcpy(p + (slash ? dirlen + 1 : 0), names[i]);
        if (hp_exists(p))
            return p;
        free(p);
    }
    hp_fail(err, "%s: no merges.txt or vocab.bpe beside it (a GPT-2 vocabulary needs its merges)",
            vocab_path);
    return NULL;
}

static hp_tokenizer *new_tokenizer(const char *path, hp_err *err)
{
    hp_tokenizer *t = hp_calloc(1, sizeof *t, "a tokenizer", err);
    if (!t)
        return NULL;
    static atomic_uint_fast64_t serials;
    t->serial = atomic_fetch_add(&serials, 1) + 1;
    t->bos = t->eos = -1;
    t->bpe.unk_id = -1;
    t->path = hp_strdup(path, err);
    if (!t->path) {
        free(t);
        return NULL;
    }
    return t;
}

static hp_tokenizer *load_file(const char *path, hp_err *err)
{
    if (is_gguf(path)) {
        hp_gguf g;
        if (hp_gguf_open(&g, path, 0, err) != 0)
            return NULL;
        hp_tokenizer *t = hp_tokenizer_from_gguf(&g, err);
        hp_gguf_close(&g);
        return t;
    }
    hp_tokenizer *t = new_tokenizer(path, err);
    if (!t)
        return NULL;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    int rc;
    if (strcmp(base, "vocab.json") == 0 || strcmp(base, "encoder.json") == 0) {
        char *merges = pair_merges(path, err);
        rc = merges ? tk_load_gpt2_pair(t, path, merges, err) : -1;
        free(merges);
    } else {
        size_t len;
        char *json = hp_read_small_file(path, (size_t)1 << 31, &len, err);
        if (!json) {
            hp_tokenizer_free(t);
            return NULL;
        }
        rc = tk_load_json(t, json, len, err);
        free(json);
    }
    if (rc != 0) {
        hp_tokenizer_free(t);
        return NULL;
    }
    return t;
}

hp_tokenizer *hp_tokenizer_load(const char *path, hp_err *err)
{
    if (!hp_is_dir(path)) {
        if (!hp_exists(path)) {
            hp_fail(err, "%s: no such file or directory", path);
            return NULL;
        }
        return load_file(path, err);
    }
    static const char *const names[] = {"tokenizer.json", "vocab.json", "encoder.json"};
    for (size_t i = 0; i < 3; i++) {
        char *p = hp_path_join(path, names[i], err);
        if (!p)
            return NULL;
        if (hp_exists(p)) {
            hp_tokenizer *t = load_file(p, err);
            free(p);
            return t;
        }
        free(p);
    }
    hp_fail(err, "%s: no tokenizer.json (or vocab.json + merges.txt) in this directory", path);
    return NULL;
}

hp_tokenizer *hp_tokenizer_from_gguf(const hp_gguf *g, hp_err *err)
{
    hp_tokenizer *t = new_tokenizer(g->file.path ? g->file.path : "GGUF", err);
    if (!t)
        return NULL;
    if (tk_load_gguf(t, g, err) != 0) {
        hp_tokenizer_free(t);
        return NULL;
    }
    return t;
}

void hp_tokenizer_free(hp_tokenizer *t)
{
    if (!t)
        return;
    tk_vocab_free(&t->vocab);
    free(t->model_token);
    tk_bpe_free(&t->bpe);
    for (size_t i = 0; i < t->n_added; i++)
        free(t->added[i].content);
    free(t->added);
    free(t->added_of_id);
    tk_trie_free(&t->trie_raw);
    tk_trie_free(&t->trie_norm);
    if (t->normalizer) {
        tk_normalizer_free(t->normalizer);
        free(t->normalizer);
    }
    if (t->pretok) {
        tk_pretok_free(t->pretok);
        free(t->pretok);
    }
    free(t->post.prefix);
    free(t->post.suffix);
    if (t->decoder) {
        tk_decoder_free(t->decoder);
        free(t->decoder);
    }
    free(t->path);
    free(t);
}

/* ---- encode ------------------------------------------------------------------------ */

/* model_text for a pre-tokenizer that only cuts at the matches of t->split: BPE on each
 * match and each stretch between matches, in place. The same cover as the Split
 * pre-tokenizer makes (find_pattern with Isolated behaviour in tokenizer_pretokenizer.c),
 * empty stretches dropped. */
static int split_in_place(const hp_tokenizer *t, const char *s, size_t n, tk_scratch *sc,
                          hp_ids *out, hp_err *err)
{
    bool bl = t->split_bytelevel;
    size_t prev = 0, pos = 0, ms, me;
    int r;
    while ((r = tk_pattern_next(t->split, s, n, &pos, sc->md, &ms, &me, err)) == 1) {
        if ((ms > prev && tk_bpe_encode(t, s + prev, ms - prev, bl, sc, out, err) != 0) ||
            (me > ms && tk_bpe_encode(t, s + ms, me - ms, bl, sc, out, err) != 0))
            return -1;
        prev = me;
    }
    if (r < 0)
        return -1;
    return prev < n ? tk_bpe_encode(t, s + prev, n - prev, bl, sc, out, err) : 0;
}

/* Pre-tokenizes and runs the model over s[0..n) (normalized text without added tokens). */
static int model_text(const hp_tokenizer *t, const char *s, size_t n, bool at_start,
                      tk_scratch *sc, hp_ids *out, hp_err *err)
{
    if (n == 0)
        return 0;
    if (!t->pretok)
        return tk_bpe_encode(t, s, n, false, sc, out, err);
    if (t->split)
        return split_in_place(t, s, n, sc, out, err);
    tk_pieces_clear(&sc->a);
    if (tk_pieces_add(&sc->a, s, n, at_start, err) != 0)
        return -1;
    bool bytelevel;
    if (tk_pretokenize(t->pretok, sc, &bytelevel, err) != 0)
        return -1;
    for (size_t i = 0; i < sc->a.n; i++)
        if (tk_bpe_encode(t, sc->a.text.p + sc->a.v[i].off, sc->a.v[i].len, bytelevel, sc, out,
                          err) != 0)
            return -1;
    return 0;
}

static int encode_stretch(const hp_tokenizer *t, const char *s, size_t n, bool at_start,
                          tk_scratch *sc, tk_segments *segs, hp_ids *out, hp_err *err)
{
    if (t->normalizer) {
        if (tk_normalize(t->normalizer, s, n, &sc->norm, sc, err) != 0)
            return -1;
        s = sc->norm.p;
        n = sc->norm.n;
    }
    if (n == 0)
        return 0;
    if (!t->has_norm)
        return model_text(t, s, n, at_start, sc, out, err);
    if (tk_added_split(t, &t->trie_norm, s, n, segs, err) != 0)
        return -1;
    for (size_t i = 0; i < segs->n; i++) {
        const tk_segment *g = &segs->v[i];
        int rc = g->added >= 0
                     ? hp_ids_push(out, t->added[g->added].id, err)
                     : model_text(t, s + g->off, g->len, at_start && g->off == 0, sc, out, err);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* ---- per-thread scratch ------------------------------------------------------------ */

/* Each thread keeps its scratch (buffers, regex match data, word cache) from one encode
 * call to the next: making them afresh cost several allocations per line, and the word
 * cache only pays when it lives longer than one line. It is the thread's own, never
 * shared, so encode stays lock-free; it is freed when the thread ends. */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static bool scratch_key_ok;

static void scratch_destroy(void *p)
{
    tk_scratch_free(p);
    free(p);
}

static void scratch_key_create(void)
{
    scratch_key_ok = pthread_key_create(&scratch_key, scratch_destroy) == 0;
}

/* The calling thread's scratch; NULL when that cannot be had (then the call makes its
 * own, without a word cache). */
static tk_scratch *thread_scratch(void)
{
    pthread_once(&scratch_once, scratch_key_create);
    if (!scratch_key_ok)
        return NULL;
    tk_scratch *sc = pthread_getspecific(scratch_key);
    if (!sc) {
        hp_err ignored;
        sc = malloc(sizeof *sc);
        if (!sc || tk_scratch_init(sc, &ignored) != 0) {
            free(sc);
            return NULL;
        }
        if (pthread_setspecific(scratch_key, sc) != 0) {
            scratch_destroy(sc);
            return NULL;
        }
    }
    if (!sc->wcache)
        sc->wcache = calloc(TK_WCACHE_SIZE, sizeof *sc->wcache); /* NULL: no caching */
    return sc;
}

static int encode_with(const hp_tokenizer *t, const char *text, size_t len, bool add_special,
                       tk_scratch *sc, hp_ids *out, hp_err *err)
{
    if (!hp_utf8_valid(text, len, NULL)) {
        sc->clean.n = 0;
        if (tk_utf8_sanitize(text, len, &sc->clean, err) != 0)
            return -1;
        text = sc->clean.p;
        len = sc->clean.n;
    }
    if (add_special)
        for (size_t i = 0; i < t->post.n_prefix; i++)
            if (hp_ids_push(out, t->post.prefix[i], err) != 0)
                return -1;
    if (!t->has_raw) {
        if (encode_stretch(t, text, len, true, sc, &sc->segs2, out, err) != 0)
            return -1;
    } else {
        if (tk_added_split(t, &t->trie_raw, text, len, &sc->segs, err) != 0)
            return -1;
        for (size_t i = 0; i < sc->segs.n; i++) {
            const tk_segment *g = &sc->segs.v[i];
            int r = g->added >= 0 ? hp_ids_push(out, t->added[g->added].id, err)
                                  : encode_stretch(t, text + g->off, g->len, g->off == 0, sc,
                                                   &sc->segs2, out, err);
            if (r != 0)
                return -1;
        }
    }
    if (add_special)
        for (size_t i = 0; i < t->post.n_suffix; i++)
            if (hp_ids_push(out, t->post.suffix[i], err) != 0)
                return -1;
    return 0;
}

void hp_tokenizer_special_lengths(const hp_tokenizer *t, size_t *n_prefix, size_t *n_suffix)
{
    *n_prefix = t->post.n_prefix;
    *n_suffix = t->post.n_suffix;
}

int hp_tokenizer_encode(const hp_tokenizer *t, const char *text, size_t len, bool add_special,
                        hp_ids *out, hp_err *err)
{
    tk_scratch *sc = thread_scratch();
    if (sc) {
        int rc = encode_with(t, text, len, add_special, sc, out, err);
        tk_scratch_trim(sc);
        return rc;
    }
    tk_scratch own;
    if (tk_scratch_init(&own, err) != 0)
        return -1;
    int rc = encode_with(t, text, len, add_special, &own, out, err);
    tk_scratch_free(&own);
    return rc;
}

/* ---- decode ------------------------------------------------------------------------ */

int hp_tokenizer_decode(const hp_tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                        char **text, size_t *len, hp_err *err)
{
    *text = NULL;
    tk_pieces a = {0}, b = {0};
    pcre2_match_data *md = NULL;
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        const char *s = tk_vocab_str(&t->vocab, ids[i], &l);
        if (!s) {
            hp_fail(err, "token id %d is not in the vocabulary (ids 0..%zu)", (int)ids[i],
                    t->vocab.n_ids - 1);
            goto out;
        }
        if (skip_special && hp_tokenizer_is_special(t, ids[i]))
            continue;
        if (tk_pieces_add(&a, s, l, false, err) != 0)
            goto out;
    }
    tk_buf res = {0};
    if (t->decoder) {
        md = pcre2_match_data_create(16, NULL);
        if (!md) {
            hp_fail(err, "out of memory for regex match data");
            goto out;
        }
        if (tk_decode_run(t->decoder, &a, &b, md, err) != 0)
            goto out;
    }
    for (size_t i = 0; i < a.n; i++) {
        /* without a decoder the reference joins tokens with spaces */
        if ((!t->decoder && i > 0 && tk_buf_putc(&res, ' ', err) != 0) ||
            tk_buf_put(&res, a.text.p + a.v[i].off, a.v[i].len, err) != 0) {
            tk_buf_free(&res);
            goto out;
        }
    }
    if (tk_buf_reserve(&res, 1, err) != 0) {
        tk_buf_free(&res);
        goto out;
    }
    res.p[res.n] = 0;
    *text = res.p;
    if (len)
        *len = res.n;
    rc = 0;
out:
    if (md)
        pcre2_match_data_free(md);
    tk_pieces_free(&a);
    tk_pieces_free(&b);
    return rc;
}

/* ---- accessors --------------------------------------------------------------------- */

size_t hp_tokenizer_vocab_size(const hp_tokenizer *t)
{
    return t->vocab.n_ids;
}

const char *hp_tokenizer_token(const hp_tokenizer *t, int32_t id, size_t *len)
{
    size_t l;
    const char *s = tk_vocab_str(&t->vocab, id, &l);
    if (s && len)
        *len = l;
    return s;
}

int32_t hp_tokenizer_token_id(const hp_tokenizer *t, const char *s, size_t len)
{
    return tk_vocab_find(&t->vocab, s, len);
}

int32_t hp_tokenizer_bos(const hp_tokenizer *t)
{
    return t->bos;
}

int32_t hp_tokenizer_eos(const hp_tokenizer *t)
{
    return t->eos;
}

bool hp_tokenizer_is_special(const hp_tokenizer *t, int32_t id)
{
    if (id < 0 || (size_t)id >= t->vocab.n_ids || t->added_of_id[id] < 0)
        return false;
    return t->added[t->added_of_id[id]].special;
}

const char *hp_tokenizer_describe(const hp_tokenizer *t)
{
    return t->describe;
}

/* ---- building blocks for the GPT-2 pair and GGUF loaders --------------------------- */

int tk_init_vocab(hp_tokenizer *t, size_t n_ids, hp_err *err)
{
    if (tk_vocab_init(&t->vocab, n_ids, n_ids, err) != 0)
        return -1;
    t->model_token = hp_calloc(n_ids ? n_ids : 1, 1, "the vocabulary", err);
    t->added_of_id = hp_malloc((n_ids ? n_ids : 1) * sizeof *t->added_of_id, "the vocabulary", err);
    if (!t->model_token || !t->added_of_id)
        return -1;
    memset(t->added_of_id, 0xff, n_ids * sizeof *t->added_of_id);
    return 0;
}

int tk_set_token(hp_tokenizer *t, int32_t id, const char *s, size_t n, const char *where,
                 hp_err *err)
{
    size_t len;
    const char *have = tk_vocab_str(&t->vocab, id, &len);
    if (have)
        return hp_fail(err, "%s: id %d is given to both \"%.*s\" and \"%.*s\"", where, (int)id,
                       (int)len, have, (int)n, s);
    int32_t dup;
    if (tk_vocab_set(&t->vocab, id, s, n, &dup, err) != 0) {
        if (dup >= 0)
            return hp_fail(err, "%s: token \"%.*s\" appears twice (ids %d and %d)", where, (int)n, s,
                           (int)dup, (int)id);
        return -1;
    }
    t->model_token[id] = 1;
    return 0;
}

int tk_add_merge(hp_tokenizer *t, int32_t rank, const char *line, size_t n, const char *where,
                 hp_err *err)
{
    const char *sp = memchr(line, ' ', n);
    if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - line)))
        return hp_fail(err, "%s: merge %d \"%.*s\": expected two tokens separated by one space",
                       where, (int)rank, (int)n, line);
    size_t al = (size_t)(sp - line), bl = n - al - 1;
    int32_t a = tk_vocab_find(&t->vocab, line, al), b = tk_vocab_find(&t->vocab, sp + 1, bl);
    /* the merged token; on the stack for any ordinary merge (one per line of merges.txt) */
    char small[256], *cat = n <= sizeof small ? small : hp_malloc(n, "a merge", err);
    if (!cat)
        return -1;
    memcpy(cat, line, al);
    memcpy(cat + al, sp + 1, bl);
    int32_t m = tk_vocab_find(&t->vocab, cat, n - 1);
    if (cat != small)
        free(cat);
    if (a < 0)
        return hp_fail(err, "%s: merge %d \"%.*s\": \"%.*s\" is not in the vocabulary", where,
                       (int)rank, (int)n, line, (int)al, line);
    if (b < 0)
        return hp_fail(err, "%s: merge %d \"%.*s\": \"%.*s\" is not in the vocabulary", where,
                       (int)rank, (int)n, line, (int)bl, sp + 1);
    if (m < 0)
        return hp_fail(err, "%s: merge %d \"%.*s\": the merged token \"%.*s%.*s\" is not in the "
                       "vocabulary", where, (int)rank, (int)n, line, (int)al, line, (int)bl, sp + 1);
    tk_mergemap_put(&t->bpe.merges, a, b, rank, m);
    return 0;
}

int tk_pretok_bytelevel_regex(hp_tokenizer *t, const char *hf_regex, bool add_prefix_space,
                              hp_err *err)
{
    tk_pretok *p = hp_calloc(1, sizeof *p, "a pre-tokenizer", err);
    if (!p)
        return -1;
    t->pretok = p;
    if (strcmp(hf_regex, TK_GPT2_REGEX) == 0) {
        p->type = TK_PRE_BYTELEVEL;
        p->add_prefix_space = add_prefix_space;
        p->use_regex = true;
        return tk_regex_compile(&p->pattern, hf_regex, t->path, err);
    }
    /* Llama 3 / Qwen2 style: Split on the regex, then ByteLevel without its own regex */
    p->type = TK_PRE_SEQUENCE;
    p->items = hp_calloc(2, sizeof *p->items, "a pre-tokenizer", err);
    if (!p->items)
        return -1;
    p->n_items = 2;
    p->items[0].type = TK_PRE_SPLIT;
    p->items[0].behavior = TK_SPLIT_ISOLATED;
    p->items[1].type = TK_PRE_BYTELEVEL;
    p->items[1].add_prefix_space = add_prefix_space;
    return tk_regex_compile(&p->items[0].pattern, hf_regex, t->path, err);
}

int tk_decoder_simple(hp_tokenizer *t, tk_dec_type type, hp_err *err)
{
    t->decoder = hp_calloc(1, sizeof *t->decoder, "a decoder", err);
    if (!t->decoder)
        return -1;
    t->decoder->type = type;
    return 0;
}
