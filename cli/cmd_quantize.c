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
#include "quant/quantize.h"

int cmd_quantize(int argc, char **argv) {
    const char *out = NULL, *type_name = NULL, *method_name = "rtn", *calib = NULL, *tokenizer = NULL;
    int calib_tokens = 0, threads = 0;
    double bpw = 0;
    bool allow_requantize = false, json = false, quiet = false;
    const mn_opt opts[] = {
        {"--output", "-o", MN_OPT_STRING, &out, "output GGUF file (required)"},
        {"--type", "-t", MN_OPT_STRING, &type_name, "q8_0 q6_k q5_k_m q5_k q5_1 q5_0 q4_k_m q4_k q4_1 q4_0 q3_k q2_k"},
        {"--method", NULL, MN_OPT_STRING, &method_name, "rtn (default), imatrix, gptq, awq or awq+gptq"},
        {"--calib", NULL, MN_OPT_STRING, &calib, "calibration text (every method but rtn, and --bpw)"},
        {"--calib-tokens", NULL, MN_OPT_INT, &calib_tokens, "calibration tokens to use (default 16384)"},
        {"--bpw", NULL, MN_OPT_DOUBLE, &bpw, "size budget in bits per weight, spent where it helps most"},
        {"--allow-requantize", NULL, MN_OPT_FLAG, &allow_requantize, "quantize an already quantized model"},
        {"--threads", NULL, MN_OPT_INT, &threads, "threads (default: all cores)"},
        {"--tokenizer", NULL, MN_OPT_STRING, &tokenizer, "tokenizer file (llama2.c checkpoints, overrides)"},
        {"--json", NULL, MN_OPT_FLAG, &json, "print a JSON report on stdout"},
        {"--quiet", "-q", MN_OPT_FLAG, &quiet, "no progress on stderr"},
        {NULL},
    };
    const mn_command_spec spec = {"quantize", "MODEL -o OUT.gguf -t TYPE [--method M] [--calib FILE] [--bpw B]",
                                  "Quantizes MODEL into a GGUF file llama.cpp runs, optionally calibrated.", opts, 1, 1};
    const char *pos[1];
    int n_pos;
    int rc = mn_parse_args(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    mn_quant_options o = {.calib_path = calib, .calib_tokens = calib_tokens, .bpw = bpw,
                          .allow_requantize = allow_requantize, .progress = !quiet};
    if (!out) return mn_usage_error(&spec, "-o OUT.gguf is required");
    if (!type_name) return mn_usage_error(&spec, "-t TYPE is required (%s)", mn_quant_type_names());
    if (mn_quant_type_parse(type_name, &o.type) != 0)
        return mn_usage_error(&spec, "unknown type '%s' (known: %s)", type_name, mn_quant_type_names());
    if (mn_quant_method_parse(method_name, &o.method) != 0)
        return mn_usage_error(&spec, "unknown method '%s' (rtn, imatrix, gptq, awq, awq+gptq)", method_name);
    if (calib_tokens < 0 || bpw < 0) return mn_usage_error(&spec, "--calib-tokens and --bpw must be positive");
    if (cli_refuses_output(out, pos[0], 2, calib, tokenizer)) return MN_EXIT_ERROR;
    mn_set_threads(threads);
    mn_progress_set_enabled(!quiet);
    mn_model *m = cli_load_model(pos[0], tokenizer);
    if (!m) return MN_EXIT_ERROR;
    mn_quant_report rep;
    rc = mn_quantize_model(m, out, &o, &rep);
    mn_model_free(m);
    if (rc != 0) return mn_report_error();
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "output", out);
        cJSON_AddStringToObject(j, "type", o.type.name);
        cJSON_AddStringToObject(j, "method", mn_quant_method_name(o.method));
        cJSON_AddNumberToObject(j, "file_bytes", (double)rep.file_bytes);
        cJSON_AddNumberToObject(j, "params", (double)rep.params);
        cJSON_AddNumberToObject(j, "bits_per_weight", rep.bpw);
        cJSON_AddNumberToObject(j, "seconds", rep.seconds);
        cJSON_AddNumberToObject(j, "calib_tokens", (double)rep.calib_tokens);
        if (rep.calib_tokens) cJSON_AddStringToObject(j, "calib_sha256", rep.calib_sha256);
        cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)mn_peak_rss_bytes());
        cJSON *types = cJSON_AddObjectToObject(j, "tensors_by_type");
        for (int t = 0; t < 64; t++)
            if (rep.tensors_by_type[t]) cJSON_AddNumberToObject(types, mn_dtype_name((mn_dtype)t), rep.tensors_by_type[t]);
        char *s = cJSON_PrintUnformatted(j);
        printf("%s\n", s);
        free(s);
        cJSON_Delete(j);
    } else {
        char size[32];
        cli_format_bytes((double)rep.file_bytes, size, sizeof size);
        printf("wrote %s: %s, %.2f bits per weight, %s %s in %.1f s\n", out, size, rep.bpw, o.type.name,
               mn_quant_method_name(o.method), rep.seconds);
        printf("tensors:");
        for (int t = 0; t < 64; t++)
            if (rep.tensors_by_type[t]) printf(" %s x%d", mn_dtype_name((mn_dtype)t), rep.tensors_by_type[t]);
        printf("\n");
    }
    return MN_EXIT_OK;
}
