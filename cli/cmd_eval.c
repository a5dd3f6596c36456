#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "core/progress.h"
#include "core/threads.h"
#include "core/usage.h"
#include "eval/perplexity.h"

int cmd_eval(int argc, char **argv) {
    const char *text_path = NULL, *tokenizer = NULL, *ref = NULL, *save_ref = NULL;
    int ctx = 512, chunks = 0, threads = 0;
    bool json = false, quiet = false;
    const mn_opt opts[] = {
        {"--text", NULL, MN_OPT_STRING, &text_path, "evaluation text (required)"},
        {"--ctx", NULL, MN_OPT_INT, &ctx, "tokens per chunk (default 512)"},
        {"--chunks", NULL, MN_OPT_INT, &chunks, "evaluate only the first N chunks"},
        {"--threads", NULL, MN_OPT_INT, &threads, "threads (default: all cores)"},
        {"--ref", NULL, MN_OPT_STRING, &ref, "reference model or saved log-probs: adds KL divergence and top-1"},
        {"--save-ref", NULL, MN_OPT_STRING, &save_ref, "save the reference's (or this model's) log-probs, zstd"},
        {"--tokenizer", NULL, MN_OPT_STRING, &tokenizer, "tokenizer file (llama2.c checkpoints, overrides)"},
        {"--json", NULL, MN_OPT_FLAG, &json, "print one JSON object on stdout"},
        {"--quiet", "-q", MN_OPT_FLAG, &quiet, "no progress on stderr"},
        {NULL},
    };
    const mn_command_spec spec = {"eval", "MODEL --text FILE [options]",
                                  "Perplexity of MODEL on a text, computed as llama.cpp's llama-perplexity does "
                                  "(chunks of --ctx tokens, second half of each chunk scored).",
                                  opts, 1, 1};
    const char *pos[1];
    int n_pos;
    int rc = mn_parse_args(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    if (!text_path) return mn_usage_error(&spec, "--text FILE is required");
    if (ctx < 8) return mn_usage_error(&spec, "--ctx must be at least 8");
    if (chunks < 0) return mn_usage_error(&spec, "--chunks must be positive");
    mn_set_threads(threads);
    mn_progress_set_enabled(!quiet);

    mn_model *m = cli_load_model(pos[0], tokenizer);
    if (!m) return MN_EXIT_ERROR;
    mn_ppl_options popt = {.ctx = ctx, .n_chunks = chunks, .progress = !quiet, .save_ref = save_ref};
    mn_model *ref_model = NULL;
    if (ref && mn_ref_logits_file(ref)) popt.ref_file = ref;
    else if (ref && !(popt.ref_model = ref_model = cli_load_model(ref, NULL))) {
        mn_model_free(m);
        return MN_EXIT_ERROR;
    }
    if (save_ref && cli_refuses_output(save_ref, pos[0], 1, ref)) {
        mn_model_free(m);
        mn_model_free(ref_model);
        return MN_EXIT_ERROR;
    }
    mn_tokens text = {0};
    mn_ppl_result res;
    if (mn_eval_read_text(m, text_path, &text) != 0 || mn_perplexity(m, &text, text_path, &popt, &res) != 0) {
        mn_tokens_free(&text);
        mn_model_free(m);
        mn_model_free(ref_model);
        return mn_report_error();
    }
    uint64_t params = mn_model_n_params(m), weight_bytes = mn_model_weight_bytes(m);
    double bpw = params ? 8.0 * (double)weight_bytes / (double)params : 0;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "model", pos[0]);
        cJSON_AddStringToObject(o, "text", text_path);
        cJSON_AddNumberToObject(o, "ppl", res.ppl);
        cJSON_AddNumberToObject(o, "ppl_stderr", res.ppl_stderr);
        cJSON_AddNumberToObject(o, "nll", res.nll_mean);
        cJSON_AddNumberToObject(o, "chunks", res.chunks);
        cJSON_AddNumberToObject(o, "ctx", res.ctx);
        cJSON_AddNumberToObject(o, "tokens_scored", (double)res.tokens_scored);
        cJSON_AddNumberToObject(o, "text_tokens", (double)res.text_tokens);
        cJSON_AddNumberToObject(o, "tokens_per_second", res.tokens_per_second);
        cJSON_AddNumberToObject(o, "seconds", res.seconds);
        cJSON_AddNumberToObject(o, "threads", mn_threads());
        cJSON_AddNumberToObject(o, "params", (double)params);
        cJSON_AddNumberToObject(o, "file_bytes", (double)m->file_bytes);
        cJSON_AddNumberToObject(o, "weight_bytes", (double)weight_bytes);
        cJSON_AddNumberToObject(o, "bits_per_weight", bpw);
        cJSON_AddNumberToObject(o, "peak_rss_bytes", (double)mn_peak_rss_bytes());
        if (res.has_ref) {
            cJSON_AddStringToObject(o, "ref", ref);
            cJSON_AddNumberToObject(o, "kld", res.kld_mean);
            cJSON_AddNumberToObject(o, "kld_stderr", res.kld_stderr);
            cJSON_AddNumberToObject(o, "kld_median", res.kld_median);
            cJSON_AddNumberToObject(o, "kld_p99", res.kld_p99);
            cJSON_AddNumberToObject(o, "kld_max", res.kld_max);
            cJSON_AddNumberToObject(o, "top1_agreement", res.top1_agreement);
            cJSON_AddNumberToObject(o, "ppl_ref", res.ppl_ref);
            cJSON_AddNumberToObject(o, "ppl_ref_stderr", res.ppl_ref_stderr);
            cJSON_AddNumberToObject(o, "delta_ppl", res.delta_ppl);
            cJSON_AddNumberToObject(o, "ppl_ratio", res.ppl_ratio);
        }
        char *s = cJSON_PrintUnformatted(o);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(o);
    } else {
        char size[32];
        cli_format_bytes((double)m->file_bytes, size, sizeof size);
        printf("model       %s  (%s, %.1fM params, %.2f bits/weight, %s)\n", pos[0], mn_arch_name(m->hp.arch),
               params / 1e6, bpw, size);
        printf("text        %s: %lld tokens, %d chunks of %d, %lld positions scored\n", text_path,
               (long long)res.text_tokens, res.chunks, res.ctx, (long long)res.tokens_scored);
        printf("perplexity  %.4f +/- %.4f\n", res.ppl, res.ppl_stderr);
        if (res.has_ref) {
            printf("reference   %s: perplexity %.4f +/- %.4f (delta %+.4f, %+.3f%%)\n", ref, res.ppl_ref,
                   res.ppl_ref_stderr, res.delta_ppl, 100 * (res.ppl_ratio - 1));
            printf("divergence  KL %.6f +/- %.6f (median %.6f, 99%% %.6f, max %.4f), same top token %.2f%%\n",
                   res.kld_mean, res.kld_stderr, res.kld_median, res.kld_p99, res.kld_max, 100 * res.top1_agreement);
        }
        printf("speed       %.0f tokens/s (%.2f s, %d threads)\n", res.tokens_per_second, res.seconds, mn_threads());
    }
    mn_tokens_free(&text);
    mn_model_free(m);
    mn_model_free(ref_model);
    return MN_EXIT_OK;
}
