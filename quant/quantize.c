/* Orchestration: choose every tensor's type, calibrate if the method needs it, run the
 * layer-wise methods, and stream the result through the GGUF exporter. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/usage.h"
#include "model/gguf_export.h"
#include "model/ops.h"
#include "quant/block_quantize.h"
#include "quant/quant_internal.h"

#define DEFAULT_CALIB_TOKENS 16384

typedef struct {
    const mn_model *m;
    const mn_quant_options *opt;
    const mn_act_stats *stats; /* NULL for rtn */
    const mn_calib_text *calib;
    mn_type_plan plan;
    uint64_t params, bytes;
    float *importance; /* current tensor's, or NULL */
    int tensors_by_type[64];
} quant_state;

static int weight_importance(quant_state *s, const mn_export_tensor *t) {
    free(s->importance);
    s->importance = NULL;
    if (!s->stats || s->opt->method == MN_QM_RTN) return 0;
    bool head = t->role == MN_W_OUTPUT || (t->role == MN_W_TOKEN_EMBD && s->m->hp.tied_embeddings);
    if (mn_input_group_of(t->role) < 0 && !head) return 0; /* embeddings are looked up, not multiplied */
    s->importance = malloc((size_t)t->src->ne[0] * sizeof(float));
    if (!s->importance) return mn_fail("out of memory");
    mn_act_stats_importance(s->stats, head ? MN_W_OUTPUT : t->role, t->layer, s->importance);
    return 0;
}

static mn_dtype plan_type(void *ctx, const mn_export_tensor *t) {
    quant_state *s = ctx;
    /* layers the layer-wise methods quantized already hold this type: the exporter copies them */
    mn_dtype type = mn_plan_tensor_type(&s->plan, s->m, t->role, t->layer, t->src);
    s->tensors_by_type[type]++;
    s->params += (uint64_t)mn_tensor_nelements(t->src);
    s->bytes += mn_dtype_row_bytes(type, t->src->ne[0]) * (uint64_t)mn_tensor_nrows(t->src);
    return type;
}

static int begin_tensor(void *ctx, const mn_export_tensor *t, mn_dtype type) {
    quant_state *s = ctx;
    return mn_dtype_is_quantized(type) && t->src->type != type ? weight_importance(s, t) : 0;
}

static int encode_rows(void *ctx, const mn_export_tensor *t, mn_dtype type, const float *rows, int64_t row0,
                       int64_t n, void *dst) {
    quant_state *s = ctx;
    const int64_t ne0 = t->src->ne[0];
    if (!mn_all_finite(rows, n * ne0))
        return mn_fail("%s: tensor %s contains NaN or Inf; refusing to quantize it", s->m->path, t->src->name);
    switch (type) {
    case MN_F32: memcpy(dst, rows, (size_t)(n * ne0) * sizeof(float)); return 0;
    case MN_F16: mn_f32_to_f16_row(rows, dst, n * ne0); return 0;
    case MN_BF16: mn_f32_to_bf16_row(rows, dst, n * ne0); return 0;
    default: return mn_quantize_rows(type, rows, dst, n, ne0, s->importance);
    }
}

static void add_metadata(void *ctx, mn_gguf_writer *w) {
    quant_state *s = ctx;
    const mn_quant_options *o = s->opt;
    mn_gguf_set_u32(w, "general.file_type", (uint32_t)o->type.llama_ftype);
    mn_gguf_set_u32(w, "general.quantization_version", 2);
    mn_gguf_set_str(w, "general.quantized_by", "minnow");
    mn_gguf_set_str(w, "minnow.quant.type", o->type.name);
    mn_gguf_set_str(w, "minnow.quant.method", mn_quant_method_name(o->method));
    mn_gguf_set_f32(w, "minnow.quant.bpw", s->params ? (float)(8.0 * (double)s->bytes / (double)s->params) : 0);
    if (o->bpw > 0) mn_gguf_set_f32(w, "minnow.quant.bpw_target", (float)o->bpw);
    if (s->calib) {
        char path[4096];
        snprintf(path, sizeof path, "%s", o->calib_path);
        mn_gguf_set_str(w, "minnow.quant.calib_file", basename(path));
        mn_gguf_set_str(w, "minnow.quant.calib_sha256", s->calib->sha256);
        mn_gguf_set_u64(w, "minnow.quant.calib_tokens", (uint64_t)s->calib->tokens);
    }
}

static int check_source(const mn_model *m, const mn_quant_options *opt) {
    if (opt->allow_requantize) return 0;
    for (int l = 0; l < m->hp.n_layers; l++)
        for (int r = 0; r < MN_W_COUNT; r++) {
            const mn_tensor *t = &m->layers[l].w[r];
            if (t->data && mn_dtype_is_quantized(t->type))
                return mn_fail("%s is already quantized (%s %s): quantizing again compounds the error; pass "
                               "--allow-requantize to do it anyway",
                               m->path, t->name, mn_dtype_name(t->type));
        }
    return 0;
}

int mn_quantize_model(const mn_model *m, const char *out_path, const mn_quant_options *opt, mn_quant_report *rep) {
    memset(rep, 0, sizeof *rep);
    double start = mn_now();
    if (check_source(m, opt)) return -1;
    quant_state s = {.m = m, .opt = opt, .plan = {.qt = &opt->type}};
    mn_calib_text calib = {0};
    mn_act_stats stats = {0};
    mn_model *qm = NULL; /* the layer-wise methods' result: m with quantized layers */
    int rc = 0;
    bool needs_calib = opt->method != MN_QM_RTN || opt->bpw > 0;
    bool layer_wise = opt->method == MN_QM_GPTQ || opt->method == MN_QM_AWQ || opt->method == MN_QM_AWQ_GPTQ;
    mn_act_stats walk_stats = {0};
    if (needs_calib) {
        if (!opt->calib_path)
            return mn_fail("--method %s needs calibration text (--calib FILE)", mn_quant_method_name(opt->method));
        rc = mn_calib_text_load(m, opt->calib_path, opt->calib_tokens > 0 ? opt->calib_tokens : DEFAULT_CALIB_TOKENS,
                                &calib);
        s.calib = &calib;
        /* per-channel statistics: for the imatrix quantizer, and to weigh --bpw's candidates */
        if (rc == 0 && (opt->method == MN_QM_IMATRIX || opt->bpw > 0)) {
            rc = mn_act_stats_collect(m, &calib, &stats, opt->progress);
            s.stats = &stats;
        }
        if (rc == 0 && opt->bpw > 0) rc = mn_bpw_plan(m, opt, &calib, &stats, &s.plan);
        if (rc == 0 && layer_wise) {
            qm = mn_model_derive(m);
            rc = qm ? mn_quantize_layers(m, qm, &s.plan, opt->method, &calib, &walk_stats, opt->progress) : -1;
            /* the output layer's statistics as the quantized layers produce its input */
            s.stats = &walk_stats;
        }
    }
    mn_export_plan plan = {.tensor_type = plan_type,
                           .encode_rows = encode_rows,
                           .begin_tensor = begin_tensor,
                           .add_metadata = add_metadata,
                           .ctx = &s,
                           .progress_label = opt->progress ? "quantize" : NULL};
    if (rc == 0) rc = mn_model_write_gguf(qm ? qm : m, out_path, &plan);
    free(s.importance);
    if (rc == 0) {
        rep->seconds = mn_now() - start;
        rep->params = s.params;
        rep->bpw = s.params ? 8.0 * (double)s.bytes / (double)s.params : 0;
        rep->calib_tokens = calib.tokens;
        memcpy(rep->calib_sha256, calib.sha256, sizeof rep->calib_sha256);
        memcpy(rep->tensors_by_type, s.tensors_by_type, sizeof rep->tensors_by_type);
        FILE *f = fopen(out_path, "rb");
        if (f) {
            fseek(f, 0, SEEK_END);
            rep->file_bytes = (uint64_t)ftell(f);
            fclose(f);
        }
    }
    mn_model_free(qm);
    free(s.plan.chosen);
    mn_act_stats_free(&walk_stats);
    mn_act_stats_free(&stats);
    mn_calib_text_free(&calib);
    return rc;
}
