/* /freq counts matched to rows (analysis/freq_counts.h). */
#include <stdlib.h>
#include <string.h>

#include "freq_counts.h"

int freq_counts_read(freq_counts *fc, const char *report, bool words, const char *option, hp_err *err)
{
    memset(fc, 0, sizeof *fc);
    fc->report = report;
    int has = hp_report_has(report, "/freq/counts", err);
    if (has < 0)
        return -1;
    if (has == 0)
        return hp_fail(err, "%s has no /freq/counts: run `hyplora freq ... -o %s` first (or name another report "
                            "with %s)", report, report, option);
    int64_t n;
    char *unit = NULL;
    if (hp_report_read_i64(report, "/freq/counts", &fc->counts, &n, err) != 0 ||
        hp_report_read_attr_str(report, "/freq", "unit", &unit, err) != 0)
        return -1;
    fc->n = (size_t)n;
    fc->words = strcmp(unit, "word") == 0;
    free(unit);
    if (fc->words != words)
        return hp_fail(err, "%s: /freq counts %s, but %s needs %s counts (hyplora freq %s)", report,
                       fc->words ? "words" : "token ids", words ? "word vectors" : "a model",
                       words ? "word" : "token", words ? "--words" : "--tokenizer");
    if (!words)
        return 0;
    if (hp_report_read_strings(report, "/freq/words", &fc->words_of, &fc->n_words, err) != 0)
        return -1;
    if (fc->n_words != fc->n)
        return hp_fail(err, "%s: /freq/words has %zu words but /freq/counts %zu counts", report, fc->n_words,
                       fc->n);
    return 0;
}

int freq_counts_align(freq_counts *fc, size_t n_rows, const hp_vectors *vec, hp_err *err)
{
    fc->n_rows = n_rows;
    if (!(fc->row = hp_calloc(n_rows ? n_rows : 1, sizeof *fc->row, "the counts of the rows", err)))
        return -1;
    if (!fc->words) {
        if (fc->n > n_rows)
            return hp_fail(err, "%s: /freq/counts has %zu token ids, the embedding %zu rows: the counts come "
                                "from another tokenizer", fc->report, fc->n, n_rows);
        memcpy(fc->row, fc->counts, fc->n * sizeof *fc->row);
        fc->n_beyond = n_rows - fc->n;
        if (fc->n_beyond)
            cli_note("the embedding has %zu rows past the %zu ids of /freq/counts (padding); they count as "
                     "never seen", fc->n_beyond, fc->n);
        return 0;
    }
    hp_word_counts *wc = hp_word_counts_new(err);
    if (!wc)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < fc->n; i++)
        rc = hp_word_counts_add(wc, fc->words_of[i], strlen(fc->words_of[i]), fc->counts[i], err);
    for (size_t i = 0; rc == 0 && i < n_rows; i++)
        fc->row[i] = hp_word_counts_get(wc, vec->words[i], strlen(vec->words[i]));
    hp_word_counts_free(wc);
    return rc;
}

void freq_counts_free(freq_counts *fc)
{
    free(fc->counts);
    hp_report_free_strings(fc->words_of, fc->n_words);
    free(fc->row);
    memset(fc, 0, sizeof *fc);
}
