/* config.json: the input is the text given to hp_config_parse (copied into a buffer of
 * exactly its size, so a read past the end is caught), then validated. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    FZ_CHECK(text != NULL);
    memcpy(text, data, size);
    hp_err err = {{0}};
    hp_config c;
    if (hp_config_parse(text, size, "config.json", &c, &err) == 0) {
        FZ_CHECK(memchr(c.architecture, 0, sizeof c.architecture) != NULL);
        FZ_CHECK(memchr(c.model_type, 0, sizeof c.model_type) != NULL);
        FZ_CHECK(memchr(c.torch_dtype, 0, sizeof c.torch_dtype) != NULL);
        FZ_CHECK(c.hidden_size >= 0 && c.n_layers >= 0 && c.n_heads >= 0 && c.vocab_size >= 0);
        if (c.forward_supported)
            FZ_CHECK(hp_config_validate(&c, "config.json", &err) == 0);
        else if (hp_config_validate(&c, "config.json", &err) != 0)
            fz_check_err(&err);
    } else {
        fz_check_err(&err);
    }
    free(text);
    return 0;
}
