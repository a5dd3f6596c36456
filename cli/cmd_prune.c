#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "core/progress.h"
#include "core/threads.h"
#include "core/usage.h"
#include "eval/perplexity.h"
#include "model/hf_export.h"
#include "prune/prune.h"

/* A keep ratio: "0.5" or "50%". Returns 1 when absent, 0 when parsed, -1 on a malformed value. */
static int parse_keep(const char *text, double *out) {
    if (!text) return 1;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || errno || !isfinite(v)) return -1;
    if (*end == '%') v /= 100, end++;
    if (*end) return -1;
    *out = v;
    return 0;
}

/* "12000000", "12M", "1.1B" or a ratio "0.5". */
static int parse_count(const char *text, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || errno || !isfinite(v)) return -1;
    const char *suffixes = "KMGB";
    const double scale[] = {1e3, 1e6, 1e9, 1e9};
    const char *s = *end ? strchr(suffixes, toupper((unsigned char)*end)) : NULL;
    if (s) v *= scale[s - suffixes], end++;
    if (*end) return -1;
    *out = v;
    return 0;
}

/* "0,1,4-7" -> indices; returns the count or -1. */
static int parse_layers(const char *text, int *out, int cap) {
    int n = 0;
    const char *p = text;
    while (*p) {
        char *end;
        long a = strtol(p, &end, 10), b = a;
        if (end == p) return -1;
        if (*end == '-') {
            const char *q = end + 1;
            b = strtol(q, &end, 10);
            if (end == q || b < a) return -1;
        }
        for (long i = a; i <= b; i++) {
            if (n >= cap) return -1;
            out[n++] = (int)i;
        }
        if (*end == ',') end++;
        else if (*end) return -1;
        p = end;
    }
    return n;
}

typedef struct {
    const char *model, *out, *calib, *eval_text;
    mn_tokens calib_tokens, eval_tokens;
    bool eval_in_sample;
} run_inputs;

/* Without --eval-text, perplexity is measured on the calibration file's text after the tokens
 * calibration used, when enough remains: numbers the calibration has not seen. */
static int read_texts(const mn_model *m, run_inputs *in, mn_prune_options *opt, bool eval) {
    if (mn_eval_read_text(m, in->calib, &in->calib_tokens) != 0) return -1;
    opt->calib = &in->calib_tokens;
    opt->calib_name = in->calib;
    if (!eval) return 0;
    opt->eval_name = in->eval_text ? in->eval_text : in->calib;
    if (in->eval_text) {
        if (mn_eval_read_text(m, in->eval_text, &in->eval_tokens) != 0) return -1;
        opt->eval = &in->eval_tokens;
        return 0;
    }
    size_t used = (size_t)opt->calib_tokens / (size_t)opt->calib_ctx * (size_t)opt->calib_ctx;
    if (opt->calib_tokens > 0 && in->calib_tokens.n >= used + 2 * (size_t)opt->eval_ctx) {
        /* a view into the calibration tokens: not owned, never freed */
        in->eval_tokens = (mn_tokens){in->calib_tokens.ids + used, in->calib_tokens.n - used, 0};
        opt->eval = &in->eval_tokens;
    } else {
        in->eval_in_sample = true;
        opt->eval = &in->calib_tokens;
    }
    return 0;
}

static cJSON *part_json(const mn_prune_part *p) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "params_before", (double)p->params_before);
    cJSON_AddNumberToObject(o, "params_after", (double)p->params_after);
    cJSON_AddNumberToObject(o, "bytes_before", (double)p->bytes_before);
    cJSON_AddNumberToObject(o, "bytes_after", (double)p->bytes_after);
    return o;
}

static void print_json(const run_inputs *in, const mn_model *src, const mn_prune_options *opt,
                       const mn_prune_report *r, double seconds) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", in->model);
    cJSON_AddStringToObject(o, "output", in->out);
    cJSON_AddStringToObject(o, "arch", mn_arch_name(src->hp.arch));
    cJSON_AddStringToObject(o, "importance", mn_prune_importance_name(opt->importance));
    cJSON_AddStringToObject(o, "layer_importance", opt->layer_metric == MN_PRUNE_LAYER_LOSS ? "loss" : "influence");
    cJSON_AddStringToObject(o, "calib", in->calib);
    cJSON_AddNumberToObject(o, "calib_tokens", r->calib_tokens);
    cJSON_AddNumberToObject(o, "calib_sequences", r->calib_sequences);
    cJSON_AddNumberToObject(o, "ctx", opt->calib_ctx);
    cJSON *axes = cJSON_AddObjectToObject(o, "axes");
    for (int a = 0; a < MN_AXIS_COUNT; a++) {
        cJSON *x = cJSON_AddObjectToObject(axes, mn_prune_axis_name((mn_prune_axis_id)a));
        cJSON_AddNumberToObject(x, "before", r->axis[a].before);
        cJSON_AddNumberToObject(x, "after", r->axis[a].after);
        cJSON_AddNumberToObject(x, "keep", (double)r->axis[a].after / r->axis[a].before);
        if (r->axis[a].align) cJSON_AddNumberToObject(x, "align", r->axis[a].align);
    }
    cJSON_AddItemToObject(o, "kept_layers", cJSON_CreateIntArray(r->kept_layers, r->axis[MN_AXIS_LAYERS].after));
    if (r->layer_scores)
        cJSON_AddItemToObject(o, "layer_scores", cJSON_CreateDoubleArray(r->layer_scores, r->axis[MN_AXIS_LAYERS].before));
    if (r->target_params > 0) {
        cJSON *t = cJSON_AddObjectToObject(o, "target");
        cJSON_AddNumberToObject(t, "params", r->target_params);
    }
    cJSON *parts = cJSON_AddObjectToObject(o, "parts");
    for (int p = 0; p < MN_PART_COUNT; p++)
        cJSON_AddItemToObject(parts, mn_prune_part_name((mn_prune_part_id)p), part_json(&r->part[p]));
    cJSON_AddNumberToObject(o, "params_before", (double)r->total.params_before);
    cJSON_AddNumberToObject(o, "params_after", (double)r->total.params_after);
    cJSON_AddNumberToObject(o, "bytes_before", (double)r->total.bytes_before);
    cJSON_AddNumberToObject(o, "bytes_after", (double)r->total.bytes_after);
    if (opt->eval) {
        cJSON_AddNumberToObject(o, "ppl_before", r->ppl_before);
        cJSON_AddNumberToObject(o, "ppl_after", r->ppl_after);
        cJSON_AddStringToObject(o, "eval_text", opt->eval_name);
        cJSON_AddBoolToObject(o, "eval_in_sample", in->eval_in_sample);
        cJSON_AddNumberToObject(o, "eval_chunks", r->eval_chunks);
        cJSON_AddNumberToObject(o, "eval_ctx", r->eval_ctx);
    }
    cJSON *notes = cJSON_AddArrayToObject(o, "notes");
    for (int i = 0; i < r->n_notes; i++) cJSON_AddItemToArray(notes, cJSON_CreateString(r->notes[i]));
    cJSON_AddNumberToObject(o, "prune_seconds", r->seconds);
    cJSON_AddNumberToObject(o, "seconds", seconds);
    cJSON_AddNumberToObject(o, "threads", mn_threads());
    cJSON_AddNumberToObject(o, "peak_rss_bytes", (double)mn_peak_rss_bytes());
    char *s = cJSON_PrintUnformatted(o);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
}

static void print_table(const run_inputs *in, const mn_model *src, const mn_prune_options *opt,
                        const mn_prune_report *r, double seconds) {
    printf("pruned       %s -> %s  (%s, %s importance)\n", in->model, in->out, mn_arch_name(src->hp.arch),
           mn_prune_importance_name(opt->importance));
    if (r->calib_tokens)
        printf("calibration  %s: %d tokens in %d sequences of %d\n", in->calib, r->calib_tokens, r->calib_sequences,
               opt->calib_ctx);
    if (r->target_params > 0)
        printf("target       %.0f parameters (%.1f%% of it used)\n", r->target_params,
               100.0 * (double)r->total.params_after / r->target_params);
    printf("\n%-12s %8s %8s %7s\n", "axis", "before", "after", "keep");
    for (int a = 0; a < MN_AXIS_COUNT; a++) {
        const mn_prune_axis *x = &r->axis[a];
        printf("%-12s %8d %8d %7.3f", mn_prune_axis_name((mn_prune_axis_id)a), x->before, x->after,
               (double)x->after / x->before);
        if (x->align && x->after != x->before) printf("  (multiple of %d)", x->align);
        printf("\n");
    }
    if (r->axis[MN_AXIS_LAYERS].after != r->axis[MN_AXIS_LAYERS].before) {
        printf("%-12s", "kept layers");
        for (int i = 0; i < r->axis[MN_AXIS_LAYERS].after; i++) printf(" %d", r->kept_layers[i]);
        printf("\n");
    }
    printf("\n%-12s %14s %14s %12s %12s\n", "part", "params before", "params after", "bytes before", "bytes after");
    for (int p = 0; p <= MN_PART_COUNT; p++) {
        const mn_prune_part *x = p < MN_PART_COUNT ? &r->part[p] : &r->total;
        char b0[32], b1[32];
        cli_format_bytes((double)x->bytes_before, b0, sizeof b0);
        cli_format_bytes((double)x->bytes_after, b1, sizeof b1);
        printf("%-12s %13.3fM %13.3fM %12s %12s\n", p < MN_PART_COUNT ? mn_prune_part_name((mn_prune_part_id)p) : "total",
               x->params_before / 1e6, x->params_after / 1e6, b0, b1);
    }
    if (opt->eval)
        printf("\nperplexity   %.4f -> %.4f (%+.1f%%) on %s%s, %d chunks of %d\n", r->ppl_before, r->ppl_after,
               100 * (r->ppl_after / r->ppl_before - 1), opt->eval_name,
               in->eval_in_sample ? " (the calibration tokens themselves)" : in->eval_text ? "" : " after the calibration tokens",
               r->eval_chunks, r->eval_ctx);
    for (int i = 0; i < r->n_notes; i++) printf("note: %s\n", r->notes[i]);
    printf("\nwrote        %s in %.1f s (peak RSS ", in->out, seconds);
    char rss[32];
    cli_format_bytes((double)mn_peak_rss_bytes(), rss, sizeof rss);
    printf("%s, %d threads)\n", rss, mn_threads());
}

#define MAX_LAYER_LIST 1024

int cmd_prune(int argc, char **argv) {
    run_inputs in = {0};
    const char *keep_text[MN_AXIS_LAYERS] = {NULL}, *layers_text = NULL, *target_text = NULL, *axes_text = NULL;
    const char *importance = "activation", *layer_metric = "influence", *tokenizer = NULL;
    int calib_tokens = 16384, ctx = 512, chunks = 20, drop = 0, seed = 1, align = 0, threads = 0;
    bool json = false, quiet = false, no_eval = false;
    const mn_opt opts[] = {
        {"--output", "-o", MN_OPT_STRING, &in.out, "output directory (Hugging Face, f16; required)"},
        {"--calib", NULL, MN_OPT_STRING, &in.calib, "calibration text (required)"},
        {"--calib-tokens", NULL, MN_OPT_INT, &calib_tokens, "calibration tokens, whole --ctx sequences (default 16384)"},
        {"--ffn", NULL, MN_OPT_STRING, &keep_text[MN_AXIS_FFN], "keep this fraction of FFN channels (0.5 or 50%)"},
        {"--heads", NULL, MN_OPT_STRING, &keep_text[MN_AXIS_HEADS], "keep this fraction of query heads, evenly per KV group"},
        {"--kv-groups", NULL, MN_OPT_STRING, &keep_text[MN_AXIS_KV_GROUPS], "keep this fraction of KV groups (with their query heads)"},
        {"--hidden", NULL, MN_OPT_STRING, &keep_text[MN_AXIS_HIDDEN], "keep this fraction of hidden (embedding) channels"},
        {"--drop-layers", NULL, MN_OPT_INT, &drop, "drop the N least important layers"},
        {"--layers-keep", NULL, MN_OPT_STRING, &layers_text, "keep exactly these layers, e.g. 0-3,5"},
        {"--target-params", NULL, MN_OPT_STRING, &target_text, "parameter budget: a count (12M) or a fraction (0.5)"},
        {"--target-axes", NULL, MN_OPT_STRING, &axes_text, "axes --target-params shrinks (default ffn,hidden)"},
        {"--importance", NULL, MN_OPT_STRING, &importance, "activation (default), magnitude or random"},
        {"--layer-importance", NULL, MN_OPT_STRING, &layer_metric, "influence (1 - cos, default) or loss"},
        {"--seed", NULL, MN_OPT_INT, &seed, "seed of --importance random (default 1)"},
        {"--align", NULL, MN_OPT_INT, &align, "kept FFN/hidden widths are multiples of N (default: 256, else 32)"},
        {"--eval-text", NULL, MN_OPT_STRING, &in.eval_text, "perplexity text (default: calibration file)"},
        {"--ctx", NULL, MN_OPT_INT, &ctx, "tokens per calibration sequence and perplexity chunk (default 512)"},
        {"--chunks", NULL, MN_OPT_INT, &chunks, "perplexity chunks (default 20, 0: all)"},
        {"--no-eval", NULL, MN_OPT_FLAG, &no_eval, "skip the perplexity before and after"},
        {"--tokenizer", NULL, MN_OPT_STRING, &tokenizer, "tokenizer file (llama2.c checkpoints, overrides)"},
        {"--threads", NULL, MN_OPT_INT, &threads, "threads (default: all cores)"},
        {"--json", NULL, MN_OPT_FLAG, &json, "print one JSON object on stdout"},
        {"--quiet", "-q", MN_OPT_FLAG, &quiet, "no progress on stderr"},
        {NULL},
    };
    const mn_command_spec spec = {
        "prune", "MODEL -o OUTDIR --calib FILE [--ffn KEEP] [--heads KEEP] [--kv-groups KEEP] [--hidden KEEP] "
                 "[--drop-layers N | --layers-keep LIST] [--target-params N|RATIO] [options]",
        "Removes FFN channels, attention heads, KV groups, hidden channels and layers ranked by importance on "
        "calibration text, and writes the smaller model as a Hugging Face directory (f16) that 'minnow convert' "
        "turns into a GGUF llama.cpp loads.",
        opts, 1, 1};
    const char *pos[1];
    int n_pos;
    int rc = mn_parse_args(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    in.model = pos[0];
    if (!in.out) return mn_usage_error(&spec, "-o OUTDIR is required");
    if (!in.calib) return mn_usage_error(&spec, "--calib FILE is required");
    if (ctx < 8) return mn_usage_error(&spec, "--ctx must be at least 8");
    if (calib_tokens < ctx) return mn_usage_error(&spec, "--calib-tokens must be at least --ctx (%d)", ctx);
    if (chunks < 0) return mn_usage_error(&spec, "--chunks must not be negative");
    if (drop && layers_text) return mn_usage_error(&spec, "give --drop-layers or --layers-keep, not both");
    if (seed < 0) return mn_usage_error(&spec, "--seed must not be negative");

    mn_prune_options opt = {.calib_ctx = ctx, .calib_tokens = calib_tokens, .eval_ctx = ctx, .eval_chunks = chunks,
                            .drop_layers = drop, .seed = (uint64_t)seed, .align = align, .progress = !quiet};
    static const char *const flag[MN_AXIS_LAYERS] = {"--ffn", "--heads", "--kv-groups", "--hidden"};
    for (int a = 0; a < MN_AXIS_LAYERS; a++) {
        int p = parse_keep(keep_text[a], &opt.keep[a]);
        if (p < 0) return mn_usage_error(&spec, "%s expects a keep ratio such as 0.5 or 50%%, got '%s'", flag[a], keep_text[a]);
        if (p == 0 && !(opt.keep[a] > 0 && opt.keep[a] <= 1)) {
            fprintf(stderr, "minnow: %s %s: keep ratio must be in (0, 1]\n", flag[a], keep_text[a]);
            return MN_EXIT_ERROR;
        }
    }
    if (target_text && parse_count(target_text, &opt.target_params) != 0)
        return mn_usage_error(&spec, "--target-params expects a count (12000000, 12M) or a ratio (0.5), got '%s'", target_text);
    if (target_text && !(opt.target_params > 0)) {
        fprintf(stderr, "minnow: --target-params %s: the budget must be positive\n", target_text);
        return MN_EXIT_ERROR;
    }
    if (axes_text && mn_prune_parse_axes(axes_text, &opt.target_axes) != 0) return mn_usage_error(&spec, "%s", mn_last_error());
    if (!strcmp(importance, "activation")) opt.importance = MN_PRUNE_ACTIVATION;
    else if (!strcmp(importance, "magnitude")) opt.importance = MN_PRUNE_MAGNITUDE;
    else if (!strcmp(importance, "random")) opt.importance = MN_PRUNE_RANDOM;
    else return mn_usage_error(&spec, "--importance must be activation, magnitude or random, not '%s'", importance);
    if (!strcmp(layer_metric, "influence")) opt.layer_metric = MN_PRUNE_LAYER_INFLUENCE;
    else if (!strcmp(layer_metric, "loss")) opt.layer_metric = MN_PRUNE_LAYER_LOSS;
    else return mn_usage_error(&spec, "--layer-importance must be influence or loss, not '%s'", layer_metric);
    int layer_list[MAX_LAYER_LIST];
    if (layers_text) {
        opt.n_layers_keep = parse_layers(layers_text, layer_list, MAX_LAYER_LIST);
        if (opt.n_layers_keep <= 0)
            return mn_usage_error(&spec, "--layers-keep expects layer indices such as 0-3,5, got '%s'", layers_text);
        opt.layers_keep = layer_list;
    }
    if (mn_same_file(in.model, in.out)) {
        fprintf(stderr, "minnow: %s: refusing to overwrite the input model\n", in.out);
        return MN_EXIT_ERROR;
    }
    mn_set_threads(threads);
    mn_progress_set_enabled(!quiet);

    const double start = mn_now();
    mn_model *src = cli_load_model(in.model, tokenizer);
    if (!src) return MN_EXIT_ERROR;
    mn_prune_report report;
    mn_model *pruned = NULL;
    rc = read_texts(src, &in, &opt, !no_eval);
    if (rc == 0) rc = (pruned = mn_prune(src, &opt, &report)) ? 0 : -1;
    if (rc == 0) rc = mn_model_write_hf(pruned, in.out, MN_F16);
    if (rc == 0) {
        if (json) print_json(&in, src, &opt, &report, mn_now() - start);
        else print_table(&in, src, &opt, &report, mn_now() - start);
    }
    if (pruned) mn_prune_report_free(&report);
    mn_model_free(pruned);
    mn_tokens_free(&in.calib_tokens);
    if (in.eval_text) mn_tokens_free(&in.eval_tokens);
    mn_model_free(src);
    return rc == 0 ? MN_EXIT_OK : mn_report_error();
}
