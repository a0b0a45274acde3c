/* Word-level mode for word-vector vocabularies (GloVe, word2vec, wink): a word is a
 * maximal run of Unicode letters, marks and numbers (general categories L*, M*, N*); an
 * apostrophe (U+0027 or U+2019) between two such characters stays inside the word
 * ("don't", "o'clock"); everything else separates words. Words are lowercased character
 * by character with the Unicode simple lowercase mapping (utf8proc_tolower; "İ" becomes
 * "i̇" as in SpecialCasing). Case folding (ß -> ss) is deliberately not applied: the
 * vocabularies keep ß. Invalid UTF-8 bytes separate words. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer_impl.h"

static bool word_char(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
    int k = utf8proc_category((utf8proc_int32_t)cp);
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) ||
           (k >= UTF8PROC_CATEGORY_MN && k <= UTF8PROC_CATEGORY_ME) ||
           (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}

/* The code point at s[i] if it is well-formed UTF-8 (length in *len), else 0 with len 1. */
static uint32_t char_at(const char *s, size_t n, size_t i, size_t *len)
{
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
    if (k <= 0) {
        *len = 1;
        return 0;
    }
    *len = (size_t)k;
    return (uint32_t)cp;
}

int hp_words_each(const char *text, size_t len,
                  int (*on_word)(const char *word, size_t len, void *ctx), void *ctx)
{
    tk_buf w = {0};
    int rc = 0;
    size_t i = 0;
    while (i < len && rc == 0) {
        size_t k;
        uint32_t cp = char_at(text, len, i, &k);
        if (!word_char(cp)) {
            i += k;
            continue;
        }
        w.n = 0;
        while (i < len) {
            cp = char_at(text, len, i, &k);
            if (cp == '\'' || cp == 0x2019) {
                size_t k2;
                uint32_t next = i + k < len ? char_at(text, len, i + k, &k2) : 0;
                if (!word_char(next))
                    break;
            } else if (!word_char(cp)) {
                break;
            }
            int r;
            if (cp == 0x130)
                r = tk_buf_put(&w, "i\xcc\x87", 3, NULL);
            else
                r = tk_buf_put_cp(&w, (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp), NULL);
            if (r != 0) {
                tk_buf_free(&w);
                return -1; /* out of memory */
            }
            i += k;
        }
        rc = on_word(w.p, w.n, ctx);
    }
    tk_buf_free(&w);
    return rc;
}
