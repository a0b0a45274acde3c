/* A Hugging Face model directory: the input is split at each "\n@@FILE@@\n" into the
 * contents of config.json, model.safetensors.index.json, model.safetensors,
 * a.safetensors, b.safetensors and tokenizer.json, in that order (missing or
 * empty parts leave the file out). hp_model_open on the directory, then what a
 * caller does with the model: every tensor read, the embedding found, the tokenizer's
 * kind. The index names the shards, so the seeds use a.safetensors and b.safetensors. */
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>

#include "fuzz_common.h"

#define FILE_SEP "\n@@FILE@@\n"

static const char *const NAMES[] = {
    "config.json", "model.safetensors.index.json", "model.safetensors",
    "a.safetensors", "b.safetensors", "tokenizer.json",
};
#define N_NAMES (sizeof NAMES / sizeof NAMES[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *part[N_NAMES];
    size_t len[N_NAMES];
    size_t n = fz_split(data, size, FILE_SEP, part, len, N_NAMES);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/model", fz_dir());
    mkdir(dir, 0700);
    for (size_t i = 0; i < N_NAMES; i++) {
        char path[4300];
        snprintf(path, sizeof path, "%s/%s", dir, NAMES[i]);
        if (i < n && len[i] > 0)
            fz_write(path, part[i], len[i]);
        else
            fz_unlink(path);
    }

    hp_err err = {{0}};
    hp_model *m = hp_model_open(dir, &err);
    if (m) {
        FZ_CHECK(m->format == HP_FORMAT_HF_DIR);
        FZ_CHECK(m->n_shards >= 1 && m->n_files == m->n_shards);
        FZ_CHECK(m->has_config == (n > 0 && len[0] > 0));
        fz_walk_model(m);
        hp_model_close(m);
    } else {
        fz_check_err(&err);
    }
    /* With a trailing slash the same directory opens the same way. */
    strcat(dir, "/");
    m = hp_model_open(dir, &err);
    if (m)
        hp_model_close(m);
    return 0;
}
