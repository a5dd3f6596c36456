/* minnow: shrink small language models for phones, on a CPU. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/out_file.h"
#include "core/threads.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"info", cmd_info, "describe a model: architecture, sizes, tensor types, tokenizer, provenance"},
    {"eval", cmd_eval, "perplexity of a model on a text, as llama.cpp's llama-perplexity computes it"},
    {"convert", cmd_convert, "write a model as a GGUF file (f32, f16 or bf16) that llama.cpp loads"},
    {"tokenize", cmd_tokenize, "print the token ids of a text, one per line"},
    {"prune", cmd_prune, "remove FFN channels, heads, hidden channels or layers by importance (Minitron-style)"},
    {"quantize", cmd_quantize, "quantize a model to GGUF block types (rtn, imatrix, gptq, awq), with calibration"},
    {"compare", cmd_compare, "quantize to several types and compare size, perplexity and divergence in one table"},
    {"gate", cmd_gate, "CI gate: exit 3 when a candidate loses too much perplexity, divergence or top-1"},
    {"distill", cmd_distill, "win a pruned student's quality back from a teacher's logits (KL, AdamW, resumable)"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: minnow COMMAND [options]   (minnow COMMAND --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
    mn_blas_select_core(argv);
    mn_out_install_signal_cleanup();
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? MN_EXIT_USAGE : MN_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("minnow 0.1.0\n");
        return MN_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 2, argv + 2);
    fprintf(stderr, "minnow: unknown command '%s'\nrun 'minnow --help' for the list of commands\n", argv[1]);
    return MN_EXIT_USAGE;
}
