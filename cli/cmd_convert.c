#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "core/progress.h"
#include "model/gguf_export.h"
#include "model/matmul.h"
#include "model/ops.h"

typedef struct {
    mn_dtype type; /* for --type */
    const char *model;
} convert_ctx;

static mn_dtype convert_type(void *ctx, const mn_export_tensor *t) {
    const convert_ctx *c = ctx;
    if (t->src->n_dims == 1 || mn_tensor_nrows(t->src) == 1) return MN_F32;
    return c->type;
}

/* A checkpoint with NaN or Inf weights would run as garbage wherever it is shipped, so convert
 * refuses it, naming the tensor as the file names it (as eval does when the forward pass meets
 * one). */
static int check_finite(void *ctx, const mn_export_tensor *t, mn_dtype type) {
    const convert_ctx *c = ctx;
    const mn_tensor *src = t->src;
    float *row = malloc((size_t)src->ne[0] * sizeof *row);
    if (!row) return mn_fail("out of memory");
    int rc = 0;
    for (int64_t r = 0; r < mn_tensor_nrows(src) && rc == 0; r++) {
        mn_tensor_rows_to_f32(src, r, 1, row);
        if (!mn_all_finite(row, src->ne[0]))
            rc = mn_fail("%s: tensor %s contains NaN or Inf (row %lld); refusing to convert it", c->model,
                         src->name[0] ? src->name : t->name, (long long)r);
    }
    free(row);
    return rc;
}

int cmd_convert(int argc, char **argv) {
    const char *out = NULL, *type_name = NULL, *tokenizer = NULL;
    bool quiet = false;
    const mn_opt opts[] = {
        {"--output", "-o", MN_OPT_STRING, &out, "output GGUF file (required)"},
        {"--type", NULL, MN_OPT_STRING, &type_name, "f32, f16 or bf16 for the weight matrices (default: as stored)"},
        {"--tokenizer", NULL, MN_OPT_STRING, &tokenizer, "tokenizer file (llama2.c checkpoints, overrides)"},
        {"--quiet", "-q", MN_OPT_FLAG, &quiet, "no progress on stderr"},
        {NULL},
    };
    const mn_command_spec spec = {"convert", "MODEL -o OUT.gguf [--type f32|f16|bf16]",
                                  "Writes MODEL (Hugging Face directory, GGUF, llama2.c) as a GGUF file that "
                                  "llama.cpp loads unchanged.",
                                  opts, 1, 1};
    const char *pos[1];
    int n_pos;
    int rc = mn_parse_args(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    if (!out) return mn_usage_error(&spec, "-o OUT.gguf is required");
    convert_ctx cc = {MN_F32, pos[0]};
    if (type_name && (mn_dtype_from_name(type_name, &cc.type) != 0 ||
                      (cc.type != MN_F32 && cc.type != MN_F16 && cc.type != MN_BF16)))
        return mn_usage_error(&spec, "--type must be f32, f16 or bf16 (use 'minnow quantize' for block types)");
    if (cli_refuses_output(out, pos[0], 1, tokenizer)) return MN_EXIT_ERROR;
    mn_progress_set_enabled(!quiet);
    mn_model *m = cli_load_model(pos[0], tokenizer);
    if (!m) return MN_EXIT_ERROR;
    mn_export_plan plan = {.tensor_type = type_name ? convert_type : NULL, .begin_tensor = check_finite, .ctx = &cc,
                           .progress_label = "convert"};
    rc = mn_model_write_gguf(m, out, &plan);
    mn_model_free(m);
    if (rc != 0) return mn_report_error();
    if (!quiet) fprintf(stderr, "wrote %s\n", out);
    return MN_EXIT_OK;
}
