/* Unit tests of the tokenizer pieces that are easy to get wrong, on tiny hand-made
 * tokenizer.json files whose right answers can be worked out by hand: merge order and
 * ties, byte fallback and unk fusing, Split behaviours, Metaspace prepend schemes, added
 * tokens with lstrip/rstrip/single_word, the template post-processor, the decoders
 * (including bytes that are not UTF-8), invalid UTF-8 input and the word-level mode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../unit/check.h"
#include "hyplora.h"

static char dir[] = "/tmp/hyplora-tok-XXXXXX";

static hp_tokenizer *load(const char *json)
{
    char path[256];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *fp = fopen(path, "w");
    fputs(json, fp);
    fclose(fp);
    hp_err err;
    hp_tokenizer *t = hp_tokenizer_load(path, &err);
    if (!t)
        fprintf(stderr, "load failed: %s\n", err.msg);
    return t;
}

/* The ids of text as "1 2 3". */
static const char *enc(const hp_tokenizer *t, const char *text, size_t len, bool special)
{
    static char buf[1024];
    hp_ids ids = {0};
    hp_err err;
    buf[0] = 0;
    if (hp_tokenizer_encode(t, text, len, special, &ids, &err) != 0) {
        snprintf(buf, sizeof buf, "error: %.900s", err.msg);
        return buf;
    }
    size_t k = 0;
    for (size_t i = 0; i < ids.n && k < sizeof buf - 16; i++)
        k += (size_t)snprintf(buf + k, sizeof buf - k, i ? " %d" : "%d", (int)ids.ids[i]);
    hp_ids_free(&ids);
    return buf;
}

#define ENC(t, s) enc(t, s, strlen(s), false)
#define CHECK_ENC(t, s, want)                                                              \
    do {                                                                                   \
        const char *got_ = ENC(t, s);                                                      \
        CHECKF(strcmp(got_, want) == 0, "\"%s\" -> \"%s\", want \"%s\"", s, got_, want);   \
    } while (0)

static const char *dec(const hp_tokenizer *t, const int32_t *ids, size_t n, bool skip)
{
    static char buf[1024];
    char *text;
    size_t len;
    hp_err err;
    if (hp_tokenizer_decode(t, ids, n, skip, &text, &len, &err) != 0) {
        snprintf(buf, sizeof buf, "error: %.900s", err.msg);
        return buf;
    }
    snprintf(buf, sizeof buf, "%s", text);
    free(text);
    return buf;
}

static void test_merge_order(void)
{
    /* the lowest rank merges first, whatever its position */
    hp_tokenizer *t = load("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"ab\":3,"
                           "\"bc\":4,\"abc\":5},\"merges\":[\"b c\",\"a b\",\"ab c\"]}}");
    CHECK_ENC(t, "abc", "0 4");
    hp_tokenizer_free(t);
    t = load("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"ab\":3,\"bc\":4,"
             "\"abc\":5},\"merges\":[[\"a\",\"b\"],[\"b\",\"c\"],[\"ab\",\"c\"]]}}");
    CHECK_ENC(t, "abc", "5");
    hp_tokenizer_free(t);
    /* equal ranks: the leftmost pair first */
    t = load("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"aa\":1},\"merges\":[\"a a\"]}}");
    CHECK_ENC(t, "aaa", "1 0");
    CHECK_ENC(t, "aaaa", "1 1");
    hp_tokenizer_free(t);
}

static const char *byte_vocab(void)
{
    static char buf[16384];
    size_t k = (size_t)snprintf(buf, sizeof buf, "{");
    for (int b = 0; b < 256; b++)
        k += (size_t)snprintf(buf + k, sizeof buf - k, "\"<0x%02X>\":%d,", b, b + 3);
    snprintf(buf + k, sizeof buf - k,
             "\"<unk>\":0,\"<s>\":1,\"</s>\":2,\"\\u2581\":259,\"h\":260,\"i\":261,"
             "\"\\u2581h\":262,\"\\u2581hi\":263}");
    return buf;
}

static void test_byte_fallback(void)
{
    char json[20000];
    snprintf(json, sizeof json,
             "{\"added_tokens\":[{\"id\":0,\"content\":\"<unk>\",\"special\":true},"
             "{\"id\":1,\"content\":\"<s>\",\"special\":true},{\"id\":2,\"content\":\"</s>\",\"special\":true}],"
             "\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"\\u2581\"},"
             "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\\u2581\"}]},"
             "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},"
             "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"</s>\",\"type_id\":0}}],"
             "\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[1],\"tokens\":[\"<s>\"]},"
             "\"</s>\":{\"id\":\"</s>\",\"ids\":[2],\"tokens\":[\"</s>\"]}}},"
             "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"\\u2581\"},"
             "\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" \","
             "\"start\":1,\"stop\":0}]},"
             "\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"fuse_unk\":true,\"unk_token\":\"<unk>\","
             "\"vocab\":%s,\"merges\":[\"\\u2581 h\",\"\\u2581h i\"]}}",
             byte_vocab());
    hp_tokenizer *t = load(json);
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK_ENC(t, "hi", "263");
    /* é = C3 A9 is not a token: its bytes */
    CHECK_ENC(t, "hé", "262 198 172");
    CHECK(strcmp(enc(t, "hi", 2, true), "1 263 2") == 0);
    /* an added token splits the text; the next stretch gets its own prepended ▁ */
    CHECK_ENC(t, "<s>hi", "1 263");
    /* invalid UTF-8: FF becomes U+FFFD = EF BF BD, then its bytes */
    CHECK(strcmp(enc(t, "h\xff", 2, false), "262 242 194 192") == 0);
    /* a truncated sequence is one U+FFFD (maximal subpart) */
    CHECK(strcmp(enc(t, "h\xe4\xb8", 3, false), "262 242 194 192") == 0);
    int32_t ids[] = {1, 263, 198, 172, 2};
    CHECK(strcmp(dec(t, ids, 5, false), "<s> hié</s>") == 0);
    CHECK(strcmp(dec(t, ids, 5, true), "hié") == 0);
    /* byte tokens that are not UTF-8: one U+FFFD per byte token, as the reference */
    int32_t bad[] = {263, 198, 263};
    CHECKF(strcmp(dec(t, bad, 3, false), "hi\xef\xbf\xbd hi") == 0, "%s", dec(t, bad, 3, false));
    int32_t bad2[] = {263, 231, 187};
    CHECKF(strcmp(dec(t, bad2, 3, false), "hi\xef\xbf\xbd\xef\xbf\xbd") == 0, "%s", dec(t, bad2, 3, false));
    int32_t out_of_range[] = {100000};
    CHECK(strncmp(dec(t, out_of_range, 1, false), "error: token id 100000", 22) == 0);
    CHECK(hp_tokenizer_bos(t) == 1 && hp_tokenizer_eos(t) == 2);
    CHECK(hp_tokenizer_is_special(t, 1) && !hp_tokenizer_is_special(t, 263));
    hp_tokenizer_free(t);
}

static void test_unk(void)
{
    const char *base = "{\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":%s,"
                       "\"vocab\":{\"<unk>\":0,\"x\":1,\"y\":2},\"merges\":[]}}";
    char json[512];
    snprintf(json, sizeof json, base, "true");
    hp_tokenizer *t = load(json);
    CHECK_ENC(t, "x\xc3\xa9\xc3\xa9y", "1 0 2");
    hp_tokenizer_free(t);
    snprintf(json, sizeof json, base, "false");
    t = load(json);
    CHECK_ENC(t, "x\xc3\xa9\xc3\xa9y", "1 0 0 2");
    hp_tokenizer_free(t);
}

static void test_split_behaviors(void)
{
    static const struct {
        const char *behavior;
        const char *want;
    } cases[] = {
        {"Isolated", "0 1 2"},
        {"Removed", "0 2"},
        {"MergedWithPrevious", "3 2"},
        {"MergedWithNext", "0 4"},
        {"Contiguous", "0 1 2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char json[1024];
        snprintf(json, sizeof json,
                 "{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"String\":\"-\"},\"behavior\":\"%s\","
                 "\"invert\":false},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"-\":1,\"b\":2,\"a-\":3,"
                 "\"-b\":4,\"a-b\":5,\"--\":6},\"merges\":[\"a -\",\"- b\",\"a- b\",\"- -\"]}}",
                 cases[i].behavior);
        hp_tokenizer *t = load(json);
        const char *got = ENC(t, "a-b");
        CHECKF(strcmp(got, cases[i].want) == 0, "%s: %s", cases[i].behavior, got);
        if (strcmp(cases[i].behavior, "Contiguous") == 0)
            CHECK_ENC(t, "a--b", "0 6 2");
        hp_tokenizer_free(t);
    }
    /* no pre-tokenizer: merges cross the '-' */
    hp_tokenizer *t = load("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"-\":1,\"b\":2,\"a-\":3,"
                           "\"-b\":4,\"a-b\":5},\"merges\":[\"a -\",\"- b\",\"a- b\"]}}");
    CHECK_ENC(t, "a-b", "5");
    hp_tokenizer_free(t);
    /* a regex split, inverted: the matches are what stays apart */
    t = load("{\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\p{L}+\"},"
             "\"behavior\":\"Removed\",\"invert\":true},\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,"
             "\"b\":1,\" \":2,\"ab\":3},\"merges\":[\"a b\"]}}");
    CHECK_ENC(t, "ab ab", "3 3");
    hp_tokenizer_free(t);
}

static void test_metaspace(void)
{
    static const char *fmt =
        "{\"added_tokens\":[{\"id\":5,\"content\":\"<s>\",\"special\":true,\"normalized\":false}],"
        "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"%s\","
        "\"split\":true},\"model\":{\"type\":\"BPE\",\"vocab\":{\"\\u2581\":0,\"h\":1,\"i\":2,"
        "\"\\u2581h\":3,\"\\u2581hi\":4,\"<s>\":5,\"hi\":6},\"merges\":[\"\\u2581 h\",\"\\u2581h i\",\"h i\"]},"
        "\"decoder\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"%s\",\"split\":true}}";
    char json[1024];
    snprintf(json, sizeof json, fmt, "always", "always");
    hp_tokenizer *t = load(json);
    CHECK_ENC(t, "hi hi", "4 4");
    CHECK_ENC(t, "<s>hi", "5 4");
    CHECK_ENC(t, "hi  hi", "4 0 4");
    int32_t ids[] = {4, 0, 4};
    CHECK(strcmp(dec(t, ids, 3, false), "hi  hi") == 0);
    hp_tokenizer_free(t);
    snprintf(json, sizeof json, fmt, "first", "first");
    t = load(json);
    CHECK_ENC(t, "hi hi", "4 4");
    /* "first": only a stretch at the very start of the text gets the ▁ */
    CHECK_ENC(t, "<s>hi", "5 6");
    hp_tokenizer_free(t);
    snprintf(json, sizeof json, fmt, "never", "never");
    t = load(json);
    CHECK_ENC(t, "hi hi", "6 4");
    CHECK(strcmp(dec(t, ids, 3, false), " hi  hi") == 0);
    hp_tokenizer_free(t);
}

static void test_added_tokens(void)
{
    hp_tokenizer *t = load(
        "{\"added_tokens\":["
        "{\"id\":10,\"content\":\"<m>\",\"special\":true,\"lstrip\":true,\"rstrip\":true,\"normalized\":false},"
        "{\"id\":11,\"content\":\"cat\",\"special\":false,\"single_word\":true,\"normalized\":false},"
        "{\"id\":12,\"content\":\"<m>x\",\"special\":false,\"normalized\":false}],"
        "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\" \":1,\"c\":2,\"t\":3,\"o\":4,\"n\":5,\"x\":6},"
        "\"merges\":[]}}");
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK_ENC(t, "a <m> a", "0 10 0");
    CHECK_ENC(t, "a  <m>", "0 10");
    /* leftmost-longest: "<m>x" beats "<m>" */
    CHECK_ENC(t, "a <m>x", "0 1 12");
    CHECK_ENC(t, "cat", "11");
    CHECK_ENC(t, "a cat a", "0 1 11 1 0");
    CHECK_ENC(t, "concat", "2 4 5 2 0 3");
    CHECK_ENC(t, "cats", "2 0 3"); /* "s" is not in the vocabulary and there is no unk */
    hp_tokenizer_free(t);
}

static void test_bytelevel(void)
{
    /* GPT-2 style: "Ġ" is the space byte */
    hp_tokenizer *t = load(
        "{\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":true},"
        "\"decoder\":{\"type\":\"ByteLevel\"},"
        "\"model\":{\"type\":\"BPE\",\"vocab\":{\"h\":0,\"i\":1,\"\\u0120\":2,\"hi\":3,\"\\u0120h\":4,"
        "\"\\u0120hi\":5,\"\\u00c3\":6,\"\\u00a9\":7,\"!\":8},\"merges\":[\"\\u0120 h\",\"\\u0120h i\",\"h i\"]}}");
    CHECK(t != NULL);
    if (!t)
        return;
    CHECK_ENC(t, "hi hi!", "3 5 8");
    CHECK_ENC(t, "\xc3\xa9", "6 7");
    int32_t ids[] = {3, 5, 6, 7};
    CHECK(strcmp(dec(t, ids, 4, false), "hi hi\xc3\xa9") == 0);
    /* a lone C3 byte: one U+FFFD */
    int32_t bad[] = {3, 6, 8};
    CHECK(strcmp(dec(t, bad, 3, false), "hi\xef\xbf\xbd!") == 0);
    hp_tokenizer_free(t);
}

static void test_unsupported(void)
{
    char path[256];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *fp = fopen(path, "w");
    fputs("{\"pre_tokenizer\":{\"type\":\"UnicodeScripts\"},\"model\":{\"type\":\"BPE\",\"vocab\":{},"
          "\"merges\":[]}}", fp);
    fclose(fp);
    hp_err err;
    CHECK(hp_tokenizer_load(path, &err) == NULL);
    CHECKF(strstr(err.msg, "pre_tokenizer type \"UnicodeScripts\" is not supported") != NULL, "%s", err.msg);
    fp = fopen(path, "w");
    fputs("{\"model\":{\"type\":\"Unigram\",\"vocab\":[]}}", fp);
    fclose(fp);
    CHECK(hp_tokenizer_load(path, &err) == NULL);
    CHECKF(strstr(err.msg, "model type \"Unigram\" is not supported") != NULL, "%s", err.msg);
}

static int collect(const char *w, size_t n, void *ctx)
{
    char *out = ctx;
    size_t k = strlen(out);
    snprintf(out + k, 256 - k, "%s%.*s", k ? "|" : "", (int)n, w);
    return 0;
}

static void test_words(void)
{
    char out[256] = "";
    const char *s = "Don't STOP—Café 42x, l'été ‘quoted’ İ\xff" "end";
    CHECK(hp_words_each(s, strlen(s), collect, out) == 0);
    CHECKF(strcmp(out, "don't|stop|café|42x|l'été|quoted|i\xcc\x87|end") == 0, "%s", out);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_merge_order();
    test_byte_fallback();
    test_unk();
    test_split_behaviors();
    test_metaspace();
    test_added_tokens();
    test_bytelevel();
    test_unsupported();
    test_words();
    char path[300];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    unlink(path);
    rmdir(dir);
    return check_exit();
}
