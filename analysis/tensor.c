/* `hyplora tensor PATH NAME -o OUT.npy`: one tensor, widened to float32, for inspection
 * in numpy or for checking our readers against independent ones. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "hyplora/npy.h"

static const char *HELP =
    "usage: hyplora tensor PATH NAME -o OUT.npy [--rows A:B]\n"
    "\n"
    "Writes tensor NAME of the model at PATH (Hugging Face directory, .safetensors or GGUF)\n"
    "as a float32 .npy file, widened from its stored type (F32, F16, BF16, Q8_0, Q4_0)\n"
    "and, for GGUF, in Hugging Face names and row order. Only that tensor's bytes are read.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE   the .npy file to write (required)\n"
    "  --rows A:B          only rows A (inclusive) to B (exclusive) of the first dimension\n"
    "  -h, --help          this text\n"
    "\n"
    "Example:\n"
    "  hyplora tensor model-dir model.embed_tokens.weight -o embed.npy\n"
    "  python3 -c 'import numpy; print(numpy.load(\"embed.npy\").shape)'\n";

int cmd_tensor(int argc, char **argv)
{
    static const struct option OPTS[] = {
        {"output", required_argument, NULL, 'o'},
        {"rows", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *out = NULL, *rows_opt = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", OPTS, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 'r':
            rows_opt = optarg;
            break;
        case 'h':
            fputs(HELP, stdout);
            return EXIT_OK;
        default:
            return cli_usage_error("tensor", "invalid option");
        }
    }
    if (optind != argc - 2)
        return cli_usage_error("tensor", "expected PATH and NAME");
    if (!out)
        return cli_usage_error("tensor", "-o OUT.npy is required");
    hp_err err;
    hp_model *m = hp_model_open(argv[optind], &err);
    if (!m)
        return cli_fail(&err);
    int rc = EXIT_FAIL;
    float *data = NULL;
    const hp_tensor *t = hp_model_find(m, argv[optind + 1]);
    if (!t) {
        hp_fail(&err, "%s: no tensor named \"%s\" (see 'hyplora info %s')", m->path, argv[optind + 1],
                m->path);
        goto out;
    }
    int64_t rows = hp_tensor_rows(t), cols = hp_tensor_cols(t), r0 = 0, r1 = rows;
    if (rows_opt) {
        char *end;
        long long a = strtoll(rows_opt, &end, 10), b;
        if (*end != ':' || (b = strtoll(end + 1, &end, 10), *end) || a < 0 || b < a || b > rows) {
            rc = cli_usage_error("tensor", "--rows expects A:B with 0 <= A <= B <= %lld", (long long)rows);
            goto done;
        }
        r0 = a, r1 = b;
    }
    data = hp_malloc((size_t)((r1 - r0) * cols) * sizeof *data, "the tensor", &err);
    if (!data)
        goto out;
    cli_progress progress;
    hp_progress *p = cli_progress_begin(&progress, "reading");
    int ok;
    if (r0 == 0 && r1 == rows)
        ok = hp_model_read_f32(m, t, data, p, &err) == 0;
    else
        ok = hp_model_read_rows(m, t, r0, r1 - r0, data, &err) == 0;
    cli_progress_end(&progress);
    if (!ok)
        goto out;
    int64_t shape[HP_MAX_DIMS];
    memcpy(shape, t->shape, sizeof shape);
    int ndim = t->ndim;
    if (ndim >= 2) /* rows are the first dimension of a matrix; a vector is one row */
        shape[0] = r1 - r0;
    if (hp_npy_write_f32(out, ndim, shape, data, &err) != 0)
        goto out;
    rc = EXIT_OK;
    goto done;
out:
    rc = cli_fail(&err);
done:
    free(data);
    hp_model_close(m);
    return rc;
}
