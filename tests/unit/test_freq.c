/* The counting layer: hp_count_ids, the word table, hp_count_words on several threads, and
 * the corpus reader (line endings, JSON fields, batch boundaries, record numbers). The
 * token counts themselves are checked against the reference tokenizer in
 * tests/oracle/test_freq.py. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hyplora.h"
#include "check.h"

static char tmpdir[] = "/tmp/test_freq-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp || fputs(text, fp) < 0 || fclose(fp) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    return path;
}

static void test_count_ids(void)
{
    hp_err err;
    int64_t counts[5] = {0};
    int32_t ids[] = {1, 4, 1, 0};
    CHECK(hp_count_ids(ids, 4, counts, 5, &err) == 0);
    CHECK(counts[0] == 1 && counts[1] == 2 && counts[4] == 1 && counts[2] == 0);
    int32_t bad[] = {2, 5};
    CHECK(hp_count_ids(bad, 2, counts, 5, &err) == -1);
    CHECKF(strstr(err.msg, "token id 5") != NULL, "%s", err.msg);
    CHECK(counts[2] == 0); /* unchanged on failure */
}

static void test_word_table(void)
{
    hp_err err;
    hp_word_counts *wc = hp_word_counts_new(&err);
    CHECK(wc != NULL);
    /* enough distinct words to rehash several times */
    char w[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(w, sizeof w, "w%d", i);
        CHECK(hp_word_counts_add(wc, w, strlen(w), 1 + i % 3, &err) == 0);
    }
    CHECK(hp_word_counts_add(wc, "w7", 2, 10, &err) == 0);
    CHECK(hp_word_counts_size(wc) == 5000);
    CHECK(hp_word_counts_get(wc, "w7", 2) == 12);
    CHECK(hp_word_counts_get(wc, "w5000", 5) == 0);
    const char **words;
    int64_t *counts;
    CHECK(hp_word_counts_sorted(wc, &words, &counts, &err) == 0);
    CHECK(strcmp(words[0], "w7") == 0 && counts[0] == 12);
    int ordered = 1;
    for (size_t i = 1; i < 5000; i++)
        ordered &= counts[i - 1] > counts[i] ||
                   (counts[i - 1] == counts[i] && strcmp(words[i - 1], words[i]) < 0);
    CHECK(ordered);
    int64_t total = 0;
    for (size_t i = 0; i < 5000; i++)
        total += counts[i];
    CHECK(total == hp_word_counts_total(wc));
    free(words);
    free(counts);
    hp_word_counts_free(wc);
}

static void test_count_words_threads(void)
{
    hp_err err;
    enum { N = 1000 };
    const char *texts[N];
    size_t lens[N];
    static const char *const POOL[] = {"The cat's hat", "ÉTÉ été Été", "a b c a", "don't stop"};
    for (int i = 0; i < N; i++) {
        texts[i] = POOL[i % 4];
        lens[i] = strlen(texts[i]);
    }
    hp_word_counts *one = hp_word_counts_new(&err), *two = hp_word_counts_new(&err);
    CHECK(hp_count_words(texts, lens, N, 1, one, &err) == 0);
    CHECK(hp_count_words(texts, lens, N, 2, two, &err) == 0);
    CHECK(hp_word_counts_get(one, "été", strlen("été")) == 3 * N / 4);
    CHECK(hp_word_counts_get(one, "cat's", 5) == N / 4);
    CHECK(hp_word_counts_get(one, "a", 1) == 2 * N / 4);
    CHECK(hp_word_counts_size(one) == hp_word_counts_size(two));
    CHECK(hp_word_counts_total(one) == hp_word_counts_total(two));
    CHECK(hp_word_counts_get(two, "don't", 5) == N / 4);
    hp_word_counts_free(one);
    hp_word_counts_free(two);
}

typedef struct seen {
    char text[64][32];
    size_t record[64];
    size_t n, batches;
    int fail_at_batch;
} seen;

static int collect(const hp_corpus_batch *b, void *ctx, hp_err *err)
{
    seen *s = ctx;
    if (++s->batches == (size_t)s->fail_at_batch)
        return hp_fail(err, "stop here");
    for (size_t i = 0; i < b->n && s->n < 64; i++) {
        snprintf(s->text[s->n], sizeof s->text[0], "%.*s", (int)b->len[i], b->text[i]);
        CHECK(b->text[i][b->len[i]] == 0);
        s->record[s->n++] = b->record[i];
    }
    return 0;
}

static void test_corpus_text(void)
{
    hp_err err;
    const char *p = write_file("c.txt", "one\r\ntwo\n\nthree\rx\nlast");
    hp_corpus_options opt;
    hp_corpus_options_init(&opt);
    opt.batch_texts = 2; /* batch boundaries inside the file */
    seen s = {0};
    CHECK(hp_corpus_each(p, &opt, collect, &s, &err) == 0);
    CHECK(s.n == 5 && s.batches == 3);
    CHECK(strcmp(s.text[0], "one") == 0 && strcmp(s.text[1], "two") == 0);
    CHECK(strcmp(s.text[2], "") == 0 && strcmp(s.text[3], "three\rx") == 0);
    CHECK(strcmp(s.text[4], "last") == 0 && s.record[4] == 5);
    seen f = {.fail_at_batch = 2};
    CHECK(hp_corpus_each(p, &opt, collect, &f, &err) == -1);
    CHECKF(strcmp(err.msg, "stop here") == 0, "%s", err.msg);
    CHECK(hp_corpus_each("/nonexistent/x.txt", &opt, collect, &s, &err) == -1);
    CHECKF(strstr(err.msg, "/nonexistent/x.txt") != NULL, "%s", err.msg);
}

static void test_corpus_json(void)
{
    hp_err err;
    const char *p = write_file("d.json", "[{\"q\": \"a\", \"r\": \"b\"}, {\"q\": \"c\", \"r\": \"d\"}]");
    const char *fields[] = {"q", "r"};
    hp_corpus_options opt;
    hp_corpus_options_init(&opt);
    opt.fields = fields;
    opt.n_fields = 2;
    opt.batch_texts = 3;
    seen s = {0};
    CHECK(hp_corpus_each(p, &opt, collect, &s, &err) == 0);
    CHECK(s.n == 4 && strcmp(s.text[1], "b") == 0 && strcmp(s.text[2], "c") == 0);
    CHECK(s.record[0] == 1 && s.record[1] == 1 && s.record[2] == 2 && s.record[3] == 2);
    /* a failing batch keeps its own message, not the stream's item position */
    seen f = {.fail_at_batch = 1};
    CHECK(hp_corpus_each(p, &opt, collect, &f, &err) == -1);
    CHECKF(strcmp(err.msg, "stop here") == 0, "%s", err.msg);
    fields[1] = "missing";
    CHECK(hp_corpus_each(p, &opt, collect, &s, &err) == -1);
    CHECKF(strstr(err.msg, "missing") && strstr(err.msg, "d.json"), "%s", err.msg);
    opt.n_fields = 0; /* objects, but no field named */
    CHECK(hp_corpus_each(p, &opt, collect, &s, &err) == -1);
    CHECKF(strstr(err.msg, "not a string"), "%s", err.msg);
    const char *l = write_file("e.jsonl", "\"x\"\n\"y\"\n");
    seen t = {0};
    CHECK(hp_corpus_each(l, &opt, collect, &t, &err) == 0);
    CHECK(t.n == 2 && strcmp(t.text[1], "y") == 0 && t.record[1] == 2);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    test_count_ids();
    test_word_table();
    test_count_words_threads();
    test_corpus_text();
    test_corpus_json();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_exit();
}
