/* minnow gate: fail a CI build when a candidate model loses too much against its reference.
 * Exit 0 when every threshold holds, 3 when one does not, 1 on errors. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/threads.h"
#include "eval/perplexity.h"

/* "2%" or "0.02" -> 0.02 */
static int parse_fraction(const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s) return -1;
    if (*end == '%') {
        v /= 100;
        end++;
    }
    if (*end || v < 0) return -1;
    *out = v;
    return 0;
}

typedef struct {
    const char *name;
    double value, limit;
    bool upper; /* value must stay <= limit (else >=) */
    bool set;
} check;

int cmd_gate(int argc, char **argv) {
    const char *ref = NULL, *text_path = NULL, *ppl_text = NULL, *tokenizer = NULL;
    double max_kld = -1, min_top1 = -1;
    int ctx = 512, chunks = 0, threads = 0;
    bool json = false, quiet = false;
    const mn_opt opts[] = {
        {"--ref", NULL, MN_OPT_STRING, &ref, "reference model, or log-probs saved by eval --save-ref (required)"},
        {"--text", NULL, MN_OPT_STRING, &text_path, "evaluation text (required)"},
        {"--max-ppl-increase", NULL, MN_OPT_STRING, &ppl_text, "largest allowed perplexity increase, e.g. 2% or 0.02"},
        {"--max-kld", NULL, MN_OPT_DOUBLE, &max_kld, "largest allowed mean KL divergence"},
        {"--min-top1", NULL, MN_OPT_DOUBLE, &min_top1, "smallest allowed top-1 agreement (0..1)"},
        {"--ctx", NULL, MN_OPT_INT, &ctx, "tokens per chunk (default 512)"},
        {"--chunks", NULL, MN_OPT_INT, &chunks, "evaluate only the first N chunks"},
        {"--threads", NULL, MN_OPT_INT, &threads, "threads (default: all cores)"},
        {"--tokenizer", NULL, MN_OPT_STRING, &tokenizer, "tokenizer file (llama2.c checkpoints, overrides)"},
        {"--json", NULL, MN_OPT_FLAG, &json, "print the report as JSON on stdout"},
        {"--quiet", "-q", MN_OPT_FLAG, &quiet, "no progress on stderr"},
        {NULL},
    };
    const mn_command_spec spec = {"gate",
                                  "--ref MODEL CANDIDATE --text FILE [--max-ppl-increase 2%] [--max-kld 0.03] "
                                  "[--min-top1 0.9]",
                                  "Measures CANDIDATE against the reference and exits 0 when every given threshold "
                                  "holds, 3 when one does not, 1 on errors.",
                                  opts, 1, 1};
    const char *pos[1];
    int n_pos;
    int rc = mn_parse_args(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    double max_ppl = -1;
    if (!ref || !text_path) return mn_usage_error(&spec, "--ref and --text are required");
    if (ppl_text && parse_fraction(ppl_text, &max_ppl))
        return mn_usage_error(&spec, "--max-ppl-increase expects a fraction like 2%% or 0.02, got '%s'", ppl_text);
    if (min_top1 > 1) return mn_usage_error(&spec, "--min-top1 is a fraction between 0 and 1");
    if (max_ppl < 0 && max_kld < 0 && min_top1 < 0) max_ppl = 0.02, max_kld = 0.03; /* sensible defaults */
    mn_set_threads(threads);
    mn_progress_set_enabled(!quiet);
    mn_model *cand = cli_load_model(pos[0], tokenizer);
    if (!cand) return MN_EXIT_ERROR;
    mn_ppl_options o = {.ctx = ctx, .n_chunks = chunks, .progress = !quiet};
    mn_model *ref_model = NULL;
    if (mn_ref_logits_file(ref)) o.ref_file = ref;
    else if (!(o.ref_model = ref_model = cli_load_model(ref, NULL))) {
        mn_model_free(cand);
        return MN_EXIT_ERROR;
    }
    mn_tokens text = {0};
    mn_ppl_result r;
    rc = mn_eval_read_text(cand, text_path, &text);
    if (rc == 0) rc = mn_perplexity(cand, &text, text_path, &o, &r);
    mn_tokens_free(&text);
    mn_model_free(cand);
    mn_model_free(ref_model);
    if (rc != 0) return mn_report_error();
    check checks[3] = {
        {"ppl_increase", r.ppl_ratio - 1, max_ppl, true, max_ppl >= 0},
        {"kld", r.kld_mean, max_kld, true, max_kld >= 0},
        {"top1_agreement", r.top1_agreement, min_top1, false, min_top1 >= 0},
    };
    bool pass = true;
    for (int i = 0; i < 3; i++)
        if (checks[i].set && (checks[i].upper ? checks[i].value > checks[i].limit : checks[i].value < checks[i].limit))
            pass = false;
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddBoolToObject(j, "pass", pass);
        cJSON_AddStringToObject(j, "candidate", pos[0]);
        cJSON_AddStringToObject(j, "ref", ref);
        cJSON_AddStringToObject(j, "text", text_path);
        cJSON_AddNumberToObject(j, "ppl", r.ppl);
        cJSON_AddNumberToObject(j, "ppl_stderr", r.ppl_stderr);
        cJSON_AddNumberToObject(j, "ppl_ref", r.ppl_ref);
        cJSON_AddNumberToObject(j, "ppl_ref_stderr", r.ppl_ref_stderr);
        cJSON_AddNumberToObject(j, "ppl_increase", r.ppl_ratio - 1);
        cJSON_AddNumberToObject(j, "kld", r.kld_mean);
        cJSON_AddNumberToObject(j, "kld_stderr", r.kld_stderr);
        cJSON_AddNumberToObject(j, "kld_p99", r.kld_p99);
        cJSON_AddNumberToObject(j, "kld_max", r.kld_max);
        cJSON_AddNumberToObject(j, "top1_agreement", r.top1_agreement);
        cJSON_AddNumberToObject(j, "chunks", r.chunks);
        cJSON_AddNumberToObject(j, "ctx", r.ctx);
        cJSON_AddNumberToObject(j, "tokens_scored", (double)r.tokens_scored);
        cJSON *th = cJSON_AddObjectToObject(j, "thresholds");
        cJSON *fails = cJSON_AddArrayToObject(j, "failures");
        for (int i = 0; i < 3; i++) {
            if (!checks[i].set) continue;
            cJSON_AddNumberToObject(th, i == 0 ? "max_ppl_increase" : i == 1 ? "max_kld" : "min_top1", checks[i].limit);
            bool bad = checks[i].upper ? checks[i].value > checks[i].limit : checks[i].value < checks[i].limit;
            if (bad) cJSON_AddItemToArray(fails, cJSON_CreateString(checks[i].name));
        }
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
    } else {
        printf("%s against %s on %s (%d chunks of %d)\n", pos[0], ref, text_path, r.chunks, r.ctx);
        printf("  %-16s %12s %12s  %s\n", "check", "measured", "limit", "result");
        for (int i = 0; i < 3; i++) {
            if (!checks[i].set) continue;
            bool bad = checks[i].upper ? checks[i].value > checks[i].limit : checks[i].value < checks[i].limit;
            printf("  %-16s %12.6f %s%11.6f  %s\n", checks[i].name, checks[i].value, checks[i].upper ? "<=" : ">=",
                   checks[i].limit, bad ? "FAIL" : "pass");
        }
        printf("%s\n", pass ? "PASS" : "FAIL");
    }
    return pass ? MN_EXIT_OK : MN_EXIT_GATE_FAIL;
}
