/* tokenizer.json and text: the input is split at the first "\n@@TEXT@@\n" into a
 * tokenizer.json (written to a file and loaded) and a text that is encoded with and
 * without special tokens; the ids are checked against the vocabulary and decoded again,
 * and the text's bytes are also decoded as ids, as a caller with untrusted ids would. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define TEXT_SEP "\n@@TEXT@@\n"

static void check_ids(const hp_tokenizer *t, const hp_ids *ids)
{
    size_t vocab = hp_tokenizer_vocab_size(t);
    for (size_t i = 0; i < ids->n; i++)
        FZ_CHECK(ids->ids[i] >= 0 && (size_t)ids->ids[i] < vocab);
    for (int skip = 0; skip < 2; skip++) {
        char *text = NULL;
        size_t len = 0;
        hp_err err = {{0}};
        if (hp_tokenizer_decode(t, ids->ids, ids->n, skip, &text, &len, &err) == 0) {
            FZ_CHECK(text != NULL && text[len] == 0);
            fz_touch(text, len);
        } else {
            fz_check_err(&err);
        }
        free(text);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *part[2];
    size_t len[2];
    size_t n = fz_split(data, size, TEXT_SEP, part, len, 2);
    const char *path = fz_path(0, "tokenizer.json");
    fz_write(path, part[0], len[0]);
    hp_err err = {{0}};
    hp_tokenizer *t = hp_tokenizer_load(path, &err);
    if (!t) {
        fz_check_err(&err);
        return 0;
    }
    const char *text = n > 1 ? (const char *)part[1] : "";
    size_t text_len = n > 1 ? len[1] : 0;
    for (int special = 0; special < 2; special++) {
        hp_ids ids = {0};
        if (hp_tokenizer_encode(t, text, text_len, special, &ids, &err) == 0)
            check_ids(t, &ids);
        else
            fz_check_err(&err);
        hp_ids_free(&ids);
    }
    /* the text's bytes as (possibly out-of-range) ids */
    hp_ids raw = {0};
    for (size_t i = 0; i + 1 < text_len && i < 64; i += 2)
        if (hp_ids_push(&raw, (int32_t)(((const uint8_t *)text)[i] << 8 | ((const uint8_t *)text)[i + 1]) - 64, &err) != 0)
            break;
    char *out = NULL;
    size_t out_len = 0;
    if (hp_tokenizer_decode(t, raw.ids, raw.n, false, &out, &out_len, &err) != 0)
        fz_check_err(&err);
    free(out);
    hp_ids_free(&raw);
    fz_touch(hp_tokenizer_describe(t), strlen(hp_tokenizer_describe(t)));
    hp_tokenizer_free(t);
    return 0;
}
