/* Word groups of `hyplora norms`: each word to its row (a model's word-initial token, or
 * the vector of that word), and each group's mean norm and count over the words found.
 * Words without a row are kept in the report (row -1) and named in a note. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "norms_cmd.h"

static int64_t word_row(const norms_run *r, const hp_tokenizer *tok, const hp_word_counts *index,
                        const char *word)
{
    if (tok) {
        int32_t id = hp_word_token(tok, word);
        return id >= 0 && (size_t)id < r->n ? id : -1;
    }
    return hp_word_counts_get(index, word, strlen(word)) - 1; /* stored as row + 1 */
}

int norms_groups_compute(norms_run *r, const hp_tokenizer *tok, const hp_word_counts *index,
                         hp_err *err)
{
    for (size_t g = 0; g < r->n_groups; g++)
        r->n_members += r->groups[g].n_words;
    r->group = hp_calloc(r->n_groups, sizeof *r->group, "the group results", err);
    r->member_group = hp_malloc(r->n_members * sizeof *r->member_group, "group members", err);
    r->member_row = hp_malloc(r->n_members * sizeof *r->member_row, "group members", err);
    r->member_word = hp_malloc(r->n_members * sizeof *r->member_word, "group members", err);
    if (!r->group || !r->member_group || !r->member_row || !r->member_word)
        return -1;
    size_t m = 0;
    for (size_t g = 0; g < r->n_groups; g++) {
        const hp_word_group *wg = &r->groups[g];
        group_result *res = &r->group[g];
        double norm = 0, centered = 0, count = 0;
        for (size_t w = 0; w < wg->n_words; w++, m++) {
            int64_t row = word_row(r, tok, index, wg->words[w]);
            r->member_group[m] = (int64_t)g;
            r->member_row[m] = row;
            r->member_word[m] = wg->words[w];
            if (row < 0) {
                cli_note("group %s: \"%s\" is not a single %s; left out", wg->name, wg->words[w],
                         r->is_vectors ? "word of the vectors" : "token of the vocabulary");
                continue;
            }
            norm += r->norm[row];
            centered += r->centered[row];
            count += (double)r->counts[row];
            res->n_used++;
        }
        double k = (double)res->n_used;
        res->mean_norm = res->n_used ? norm / k : NAN;
        res->mean_centered_norm = res->n_used ? centered / k : NAN;
        res->mean_count = res->n_used ? count / k : NAN;
        if (!res->n_used)
            cli_note("group %s: none of its %zu words has a row; its means are NaN", wg->name,
                     wg->n_words);
    }
    return 0;
}

void norms_groups_free(norms_run *r)
{
    hp_word_groups_free(r->groups, r->n_groups);
    free(r->group);
    free(r->member_group);
    free(r->member_row);
    free(r->member_word);
}
