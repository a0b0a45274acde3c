/* hyplora: one executable, git-style subcommands. Global options come before or after
 * the command name; everything else belongs to the command. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dist.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
    bool ranks; /* splits its work over the ranks of an mpirun job (docs/distributed.md) */
} command;

static const command COMMANDS[] = {
    {"info", cmd_info, "describe a model, GGUF file or word-vector file (config, tensors, tokenizer)", false},
    {"tensor", cmd_tensor, "export one tensor of a model as a float32 .npy file", false},
    {"freq", cmd_freq, "count the tokens (or words) of a corpus and fit the power law of the counts", false},
    {"norms", cmd_norms, "embedding norms against token frequency: correlations, bins, word groups, PCA", false},
    {"delta", cmd_delta, "Gromov δ-hyperbolicity of embeddings, word vectors, a distance matrix or a graph", true},
    {"powerlaw", cmd_powerlaw, "fit a power law to a list of numbers (CSN method, bootstrap p, alternatives)", false},
    {"analyze", cmd_analyze, "freq, norms and δ of every layer on data into one report, then a HypLoRA plan (/recommend)", true},
    {"plot", cmd_plot, "draw gnuplot charts (PNG, SVG) of the groups of a report", false},
    {"make-model", cmd_make_model, "write a random Llama-architecture checkpoint in the Hugging Face layout", false},
    {"generate", cmd_generate, "continue a prompt with a model (greedy or sampled), streaming the text", false},
    {"loss", cmd_loss, "mean token cross-entropy of a model on instruction data (Alpaca template)", false},
    {"train", cmd_train, "fine-tune LoRA or HypLoRA adapters on instruction data (PEFT directory out)", true},
    {"pretrain", cmd_pretrain, "train a Llama-architecture model from random weights on text (HF directory out)", true},
    {"eval", cmd_eval, "accuracy on the paper's benchmarks: decode, extract each answer, score (JSON out)", true},
    {"merge", cmd_merge, "fold a LoRA adapter into the model's weights (HypLoRA cannot be merged)", false},
    {"tokenize", cmd_tokenize, "text to token ids (or back) with a tokenizer.json, GPT-2 vocab or GGUF", false},
};
#define N_COMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static void print_help(void)
{
    printf("usage: hyplora [--threads N] [--quiet | --verbose] <command> [options]\n"
           "\n"
           "Measures the hyperbolic geometry of language models and fine-tunes them with HypLoRA.\n"
           "\n"
           "Commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        printf("  %-12s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    printf("\n"
           "Global options:\n"
           "  --threads N   worker threads (default: all cores)\n"
           "  --quiet       no progress lines or notes, errors only\n"
           "  --verbose     more detail on stderr\n"
           "  --version     print the version\n"
           "  --help        this text; 'hyplora <command> --help' for a command\n"
           "\n"
           "Exit status: 0 success, 1 failure, 2 usage error.\n"
           "\n"
           "Example:\n"
           "  hyplora info path/to/model-dir\n");
}

/* Takes the global options out of argv wherever they stand (before or after the
 * command), so commands never see them. Returns -1 after a usage error. */
static int take_globals(int *argc, char **argv)
{
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            while (i < *argc)
                argv[out++] = argv[i++];
            break;
        }
        if (strcmp(a, "--quiet") == 0) {
            g_cli.verbosity = 0;
        } else if (strcmp(a, "--verbose") == 0) {
            g_cli.verbosity = 2;
        } else if (strcmp(a, "--threads") == 0 || strncmp(a, "--threads=", 10) == 0) {
            const char *v = a[9] == '=' ? a + 10 : (i + 1 < *argc ? argv[++i] : NULL);
            long n;
            if (!v) {
                cli_usage_error(NULL, "--threads needs a value");
                return -1;
            }
            if (!cli_parse_int(NULL, "--threads", v, 1, 4096, &n))
                return -1;
            g_cli.threads = (int)n;
        } else {
            argv[out++] = argv[i];
        }
    }
    *argc = out;
    argv[out] = NULL;
    return 0;
}

int main(int argc, char **argv)
{
    g_cli.argc = argc;
    g_cli.argv = malloc(((size_t)argc + 1) * sizeof *argv);
    if (!g_cli.argv)
        return EXIT_FAIL;
    memcpy(g_cli.argv, argv, ((size_t)argc + 1) * sizeof *argv);
    if (take_globals(&argc, argv) != 0)
        return EXIT_USAGE;
    if (argc < 2) {
        print_help();
        return EXIT_USAGE;
    }
    if (dist_init(&argc, &argv) != 0)
        return EXIT_FAIL;
    hp_blas_setup(g_cli.threads);
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_help();
        return EXIT_OK;
    }
    if (strcmp(name, "--version") == 0) {
        const char *mpi = dist_library();
        printf("hyplora %s (%s%s)\n", HYPLORA_VERSION, mpi ? "MPI: " : "without MPI", mpi ? mpi : "");
        return EXIT_OK;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(name, COMMANDS[i].name) == 0) {
            if (g_dist.size > 1 && !COMMANDS[i].ranks)
                return dist_finish(cli_usage_error(name, "this command runs as one process: start it without mpirun "
                                                         "(docs/distributed.md lists the commands that use ranks)"));
            return dist_finish(COMMANDS[i].run(argc - 1, argv + 1));
        }
    return dist_finish(cli_usage_error(NULL, "'%s' is not a command", name));
}
