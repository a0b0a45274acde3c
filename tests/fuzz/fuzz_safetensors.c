/* safetensors: the input is one .safetensors file. It is opened with
 * hp_safetensors_open (every tensor checked against the file and read back) and then as
 * a model with hp_model_open, which is what the CLI does with such a path. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fz_path(0, "model.safetensors");
    fz_write(path, data, size);
    hp_err err = {{0}};

    hp_safetensors st;
    if (hp_safetensors_open(&st, path, 0, &err) == 0) {
        FZ_CHECK(st.data_start >= 8 && st.data_start <= st.file.size);
        for (size_t i = 0; i < st.n_meta; i++) {
            FZ_CHECK(st.meta_keys[i] && st.meta_values[i]);
            fz_touch(st.meta_keys[i], strlen(st.meta_keys[i]) + 1);
            fz_touch(st.meta_values[i], strlen(st.meta_values[i]) + 1);
        }
        for (size_t i = 0; i < st.n_tensors; i++) {
            const hp_tensor *t = &st.tensors[i];
            FZ_CHECK(t->file == 0);
            FZ_CHECK(t->offset >= st.data_start);
            fz_check_tensor(&st.file, t);
            fz_read_tensor(&st.file, t);
        }
        /* The reader refuses a file whose tensors overlap or repeat a name. */
        FZ_CHECK(hp_tensors_check_layout(path, st.tensors, st.n_tensors, &err) == 0);
        hp_safetensors_close(&st);
        /* Closing twice is harmless (close leaves the struct empty). */
        hp_safetensors_close(&st);
    } else {
        fz_check_err(&err);
        FZ_CHECK(st.tensors == NULL && st.n_tensors == 0 && st.file.map == NULL);
    }

    hp_model *m = hp_model_open(path, &err);
    if (m) {
        /* A file that starts with the GGUF magic is read as GGUF whatever its name. */
        bool gguf = size >= 4 && memcmp(data, "GGUF", 4) == 0;
        FZ_CHECK(m->format == (gguf ? HP_FORMAT_GGUF : HP_FORMAT_SAFETENSORS));
        FZ_CHECK(gguf || !m->has_config);
        fz_walk_model(m);
        hp_model_close(m);
    } else {
        fz_check_err(&err);
    }
    return 0;
}
