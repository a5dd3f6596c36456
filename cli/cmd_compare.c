/* minnow compare: quantize one model to several types and measure each against the original
 * on the same text, in one table (and report.md, chart.svg, report.json with --report DIR). */
#include <cjson/cJSON.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "core/out_file.h"
#include "core/progress.h"
#include "core/svg_chart.h"
#include "core/threads.h"
#include "core/zstd_size.h"
#include "eval/perplexity.h"
#include "model/gguf_export.h"
#include "quant/quantize.h"

#define MAX_TYPES 16

typedef struct {
    char name[16];
    char method[16];
    char path[PATH_MAX];
    mn_model *model;
    uint64_t file_bytes, zstd_bytes;
    double bpw;
    mn_ppl_result r;
} entry;

static int make_entry(const mn_model *m, entry *e, const mn_quant_options *base, bool quiet) {
    mn_dtype plain;
    if (mn_dtype_from_name(e->name, &plain) == 0 && (plain == MN_F32 || plain == MN_F16 || plain == MN_BF16)) {
        snprintf(e->method, sizeof e->method, "-");
        if (mn_model_convert_gguf(m, e->path, plain, false, false)) return -1;
    } else {
        mn_quant_options o = *base;
        if (mn_quant_type_parse(e->name, &o.type) != 0)
            return mn_fail("unknown type '%s' (known: f16, bf16, f32, %s)", e->name, mn_quant_type_names());
        snprintf(e->method, sizeof e->method, "%s", mn_quant_method_name(o.method));
        mn_quant_report rep;
        if (mn_quantize_model(m, e->path, &o, &rep)) return -1;
    }
    if (!quiet) fprintf(stderr, "compare: wrote %s\n", e->path);
    mn_load_options lo = {.skip_tokenizer = false};
    e->model = mn_model_load(e->path, &lo);
    if (!e->model) return -1;
    e->file_bytes = e->model->file_bytes;
    e->bpw = 8.0 * (double)mn_model_weight_bytes(e->model) / (double)mn_model_n_params(e->model);
    return mn_zstd_size(e->path, 9, mn_threads(), &e->zstd_bytes);
}

static void print_table(FILE *out, const entry *e, int n, bool markdown) {
    const char *fmt_head = markdown ? "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n" :
                                      "%-8s %-9s %10s %10s %6s %10s %8s %10s %7s\n";
    fprintf(out, fmt_head, "type", "method", "size", "zstd", "bpw", "PPL", "dPPL", "KLD", "top-1");
    if (markdown) fprintf(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n; i++) {
        char size[32], zsize[32], ppl[32], dppl[32], kld[32], top1[32], bpw[16];
        cli_format_bytes((double)e[i].file_bytes, size, sizeof size);
        cli_format_bytes((double)e[i].zstd_bytes, zsize, sizeof zsize);
        snprintf(bpw, sizeof bpw, "%.2f", e[i].bpw);
        snprintf(ppl, sizeof ppl, "%.4f", e[i].r.ppl);
        snprintf(dppl, sizeof dppl, "%+.3f%%", 100 * (e[i].r.ppl_ratio - 1));
        snprintf(kld, sizeof kld, "%.6f", e[i].r.kld_mean);
        snprintf(top1, sizeof top1, "%.2f%%", 100 * e[i].r.top1_agreement);
        fprintf(out, markdown ? "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n" :
                                "%-8s %-9s %10s %10s %6s %10s %8s %10s %7s\n",
                e[i].name, e[i].method, size, zsize, bpw, ppl, dppl, kld, top1);
    }
}

static cJSON *report_json(const char *model, const char *text_path, const entry *e, int n) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", model);
    cJSON_AddStringToObject(root, "text", text_path);
    if (n) {
        cJSON_AddNumberToObject(root, "ppl_ref", e[0].r.ppl_ref);
        cJSON_AddNumberToObject(root, "ctx", e[0].r.ctx);
        cJSON_AddNumberToObject(root, "chunks", e[0].r.chunks);
        cJSON_AddNumberToObject(root, "tokens_scored", (double)e[0].r.tokens_scored);
    }
    cJSON *rows = cJSON_AddArrayToObject(root, "results");
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "type", e[i].name);
        cJSON_AddStringToObject(o, "method", e[i].method);
        cJSON_AddStringToObject(o, "file", e[i].path);
        cJSON_AddNumberToObject(o, "file_bytes", (double)e[i].file_bytes);
        cJSON_AddNumberToObject(o, "zstd_bytes", (double)e[i].zstd_bytes);
        cJSON_AddNumberToObject(o, "bits_per_weight", e[i].bpw);
        cJSON_AddNumberToObject(o, "ppl", e[i].r.ppl);
        cJSON_AddNumberToObject(o, "ppl_stderr", e[i].r.ppl_stderr);
        cJSON_AddNumberToObject(o, "delta_ppl", e[i].r.delta_ppl);
        cJSON_AddNumberToObject(o, "ppl_ratio", e[i].r.ppl_ratio);
        cJSON_AddNumberToObject(o, "kld", e[i].r.kld_mean);
        cJSON_AddNumberToObject(o, "kld_stderr", e[i].r.kld_stderr);
        cJSON_AddNumberToObject(o, "kld_p99", e[i].r.kld_p99);
        cJSON_AddNumberToObject(o, "top1_agreement", e[i].r.top1_agreement);
        cJSON_AddItemToArray(rows, o);
    }
    return root;
}

static int write_reports(mn_out_dir *d, const char *model, const char *text_path, const entry *e, int n) {
    cJSON *json = report_json(model, text_path, e, n);
    char *s = cJSON_Print(json);
    cJSON_Delete(json);
    const char *path = mn_out_dir_file(d, "report.json");
    int rc = s && path ? mn_out_write_whole(path, s, strlen(s)) : -1;
    free(s);
    char *md = NULL;
    size_t md_len = 0;
    FILE *f = open_memstream(&md, &md_len);
    if (rc == 0 && f) {
        fprintf(f, "# minnow compare: %s\n\nText: `%s`, %d chunks of %d tokens, %lld positions scored. "
                   "Reference perplexity %.4f.\n\n",
                model, text_path, n ? e[0].r.chunks : 0, n ? e[0].r.ctx : 0,
                (long long)(n ? e[0].r.tokens_scored : 0), n ? e[0].r.ppl_ref : 0);
        print_table(f, e, n, true);
        fprintf(f, "\nKLD: mean KL divergence of each file's next-token distribution from the reference's; "
                   "top-1: how often both pick the same most likely token.\n\n![size vs quality](chart.svg)\n");
        fclose(f);
        path = mn_out_dir_file(d, "report.md");
        rc = path ? mn_out_write_whole(path, md, md_len) : -1;
    } else if (rc == 0) {
        rc = mn_fail("out of memory writing the report");
    }
    free(md);
    mn_chart_point pts[MAX_TYPES];
    int np = 0;
    for (int i = 0; i < n; i++)
        /* conversions that change nothing diverge by rounding noise only: nothing to plot */
        if (e[i].r.kld_mean > 1e-7) pts[np++] = (mn_chart_point){e[i].bpw, e[i].r.kld_mean, e[i].name};
    mn_chart_series series = {.points = pts, .n = np, .labels = true};
    mn_chart_spec spec = {.title = "Size against quality (lower left is better)",
                          .x_label = "bits per weight", .y_label = "KL divergence from the reference (log)", .log_y = true};
    if (rc == 0) rc = (path = mn_out_dir_file(d, "chart.svg")) ? mn_chart_write_svg(path, &spec, &series, 1) : -1;
    return rc;
}

int cmd_compare(int argc, char **argv) {
    const char *types = NULL, *text_path = NULL, *method_name = "rtn", *calib = NULL, *report = NULL,
               *tokenizer = NULL;
    int ctx = 512, chunks = 0, threads = 0, calib_tokens = 0;
    bool json = false, quiet = false;
    const mn_opt opts[] = {
        {"--types", "-t", MN_OPT_STRING, &types, "comma-separated types, e.g. f16,q8_0,q6_k,q5_k_m,q4_k_m,q4_0"},
        {"--text", NULL, MN_OPT_STRING, &text_path, "evaluation text (required)"},
        {"--method", NULL, MN_OPT_STRING, &method_name, "quantization method for every type (default rtn)"},
        {"--calib", NULL, MN_OPT_STRING, &calib, "calibration text for the calibrated methods"},
        {"--calib-tokens", NULL, MN_OPT_INT, &calib_tokens, "calibration tokens (default 16384)"},
        {"--report", NULL, MN_OPT_STRING, &report, "directory for the files, report.md, chart.svg, report.json"},
        {"--ctx", NULL, MN_OPT_INT, &ctx, "tokens per chunk (default 512)"},
        {"--chunks", NULL, MN_OPT_INT, &chunks, "evaluate only the first N chunks"},
        {"--threads", NULL, MN_OPT_INT, &threads, "threads (default: all cores)"},
        {"--tokenizer", NULL, MN_OPT_STRING, &tokenizer, "tokenizer file (llama2.c checkpoints, overrides)"},
        {"--json", NULL, MN_OPT_FLAG, &json, "print the report as JSON on stdout"},
        {"--quiet", "-q", MN_OPT_FLAG, &quiet, "no progress on stderr"},
        {NULL},
    };
    const mn_command_spec spec = {"compare", "MODEL -t TYPES --text FILE [--method M] [--calib FILE] [--report DIR]",
                                  "Quantizes MODEL to each type and measures every result against MODEL on the same "
                                  "text: size, zstd size, bits per weight, perplexity, KL divergence, top-1 agreement.",
                                  opts, 1, 1};
    const char *pos[1];
    int n_pos;
    int rc = mn_parse_args(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    if (!types || !text_path) return mn_usage_error(&spec, "-t TYPES and --text FILE are required");
    mn_quant_options base = {.calib_path = calib, .calib_tokens = calib_tokens, .progress = !quiet};
    if (mn_quant_method_parse(method_name, &base.method) != 0)
        return mn_usage_error(&spec, "unknown method '%s' (rtn, imatrix, gptq, awq, awq+gptq)", method_name);
    entry *e = calloc(MAX_TYPES, sizeof *e);
    int n = 0;
    char *list = strdup(types);
    for (char *tok = strtok(list, ","); tok && n < MAX_TYPES; tok = strtok(NULL, ","))
        snprintf(e[n++].name, sizeof e[0].name, "%s", tok);
    free(list);
    for (int i = 0; i < n; i++) {
        mn_quant_type qt;
        mn_dtype plain;
        if (mn_quant_type_parse(e[i].name, &qt) != 0 &&
            !(mn_dtype_from_name(e[i].name, &plain) == 0 && (plain == MN_F32 || plain == MN_F16 || plain == MN_BF16))) {
            free(e);
            return mn_usage_error(&spec, "unknown type '%s' (f16, bf16, f32, %s)", e[i].name, mn_quant_type_names());
        }
    }
    mn_set_threads(threads);
    mn_progress_set_enabled(!quiet);
    mn_model *m = cli_load_model(pos[0], tokenizer);
    if (!m) {
        free(e);
        return MN_EXIT_ERROR;
    }
    rc = 0;
    /* files go to the report directory (committed at the end) or a private scratch directory */
    mn_out_dir *d = NULL;
    char scratch[PATH_MAX] = "";
    if (report) {
        d = mn_out_dir_open(report);
        if (!d) rc = -1;
    } else {
        snprintf(scratch, sizeof scratch, "%s/minnow-compare-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(scratch)) rc = mn_fail("%s: cannot create a scratch directory", scratch);
    }
    char base_name[PATH_MAX];
    snprintf(base_name, sizeof base_name, "%s", m->path);
    char *stem = basename(base_name);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem) *dot = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char file[PATH_MAX];
        snprintf(file, sizeof file, "%s-%s.gguf", stem, e[i].name);
        const char *p = d ? mn_out_dir_file(d, file) : NULL;
        int len = d ? (p ? snprintf(e[i].path, sizeof e[i].path, "%s", p) : -1)
                    : snprintf(e[i].path, sizeof e[i].path, "%s/%s", scratch, file);
        if (len < 0 || (size_t)len >= sizeof e[i].path) rc = mn_fail("%s: path too long", file);
        if (rc == 0) rc = make_entry(m, &e[i], &base, quiet);
    }
    mn_tokens text = {0};
    if (rc == 0) rc = mn_eval_read_text(m, text_path, &text);
    if (rc == 0) {
        const mn_model *models[MAX_TYPES];
        mn_ppl_result results[MAX_TYPES];
        for (int i = 0; i < n; i++) models[i] = e[i].model;
        mn_ppl_options o = {.ctx = ctx, .n_chunks = chunks, .progress = !quiet, .ref_model = m};
        rc = mn_evaluate(models, n, &text, text_path, &o, results);
        for (int i = 0; i < n && rc == 0; i++) e[i].r = results[i];
    }
    if (rc == 0 && d) rc = write_reports(d, pos[0], text_path, e, n);
    for (int i = 0; i < n; i++) mn_model_free(e[i].model);
    if (rc == 0) {
        if (json) {
            cJSON *j = report_json(pos[0], text_path, e, n);
            char *s = cJSON_PrintUnformatted(j);
            printf("%s\n", s);
            free(s);
            cJSON_Delete(j);
        } else {
            printf("%s on %s: reference perplexity %.4f, %d chunks of %d\n\n", pos[0], text_path, n ? e[0].r.ppl_ref : 0,
                   n ? e[0].r.chunks : 0, ctx);
            print_table(stdout, e, n, false);
        }
    }
    if (d) {
        if (rc == 0) rc = mn_out_dir_commit(d);
        else mn_out_dir_abort(d);
        if (rc == 0 && !json && !quiet) fprintf(stderr, "report in %s\n", report);
    }
    if (scratch[0]) {
        for (int i = 0; i < n; i++)
            if (e[i].path[0]) unlink(e[i].path);
        rmdir(scratch);
    }
    mn_tokens_free(&text);
    mn_model_free(m);
    free(e);
    return rc == 0 ? MN_EXIT_OK : mn_report_error();
}
