/* Calibration: the text, and per-channel statistics of every linear layer's input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/progress.h"
#include "core/sha256.h"
#include "model/forward.h"
#include "quant/quant_internal.h"

int mn_calib_text_load(const mn_model *m, const char *path, int max_tokens, mn_calib_text *out) {
    memset(out, 0, sizeof *out);
    size_t len;
    char *text = mn_read_file(path, &len);
    if (!text) return -1;
    mn_sha256_hex(text, len, out->sha256);
    if (len > 0 && text[len - 1] == '\n') len--;
    mn_tokens toks = {0};
    int rc = mn_tokenize(m->tok, text, len, true, &toks);
    free(text);
    if (rc != 0) return -1;
    out->ctx = m->hp.ctx_train < 512 ? m->hp.ctx_train : 512;
    int n_chunks = (int)(toks.n / (size_t)out->ctx);
    if (max_tokens > 0 && n_chunks > max_tokens / out->ctx) n_chunks = max_tokens / out->ctx;
    if (n_chunks < 1) {
        size_t have = toks.n;
        mn_tokens_free(&toks);
        return mn_fail("%s: calibration text too short: %zu tokens, at least %d needed", path, have, out->ctx);
    }
    out->n_chunks = n_chunks;
    out->tokens = (int64_t)n_chunks * out->ctx;
    out->ids = malloc((size_t)out->tokens * sizeof(int32_t));
    if (!out->ids) {
        mn_tokens_free(&toks);
        return mn_fail("%s: out of memory", path);
    }
    memcpy(out->ids, toks.ids, (size_t)out->tokens * sizeof(int32_t));
    mn_tokens_free(&toks);
    const mn_vocab *v = mn_tokenizer_vocab(m->tok);
    if (v->add_bos && v->bos_id >= 0)
        for (int c = 0; c < n_chunks; c++) out->ids[(size_t)c * out->ctx] = v->bos_id;
    return 0;
}

void mn_calib_text_free(mn_calib_text *c) {
    free(c->ids);
    memset(c, 0, sizeof *c);
}

int mn_input_group_of_tap(mn_tap_point p) {
    switch (p) {
    case MN_TAP_ATTN_INPUT: return MN_IN_ATTN;
    case MN_TAP_ATTN_OUTPUT: return MN_IN_ATTN_O;
    case MN_TAP_FFN_INPUT: return MN_IN_FFN;
    case MN_TAP_FFN_HIDDEN: return MN_IN_DOWN;
    default: return -1;
    }
}

static void accumulate(double *sum_sq, double *sum_abs, const float *x, int rows, int cols, int ld) {
    for (int r = 0; r < rows; r++) {
        const float *row = x + (size_t)r * ld;
        for (int c = 0; c < cols; c++) {
            sum_sq[c] += (double)row[c] * row[c];
            sum_abs[c] += fabsf(row[c]);
        }
    }
}

static void stats_tap(void *ctx, int layer, mn_tap_point point, const float *x, int rows, int cols, int ld) {
    mn_act_stats *s = ctx;
    if (point == MN_TAP_HEAD_INPUT) {
        accumulate(s->head_sum_sq, s->head_sum_abs, x, rows, cols, ld);
        s->head_tokens += rows;
        return;
    }
    int g = mn_input_group_of_tap(point);
    if (g < 0) return;
    accumulate(s->sum_sq[g] + (size_t)layer * s->width[g], s->sum_abs[g] + (size_t)layer * s->width[g], x, rows,
               cols, ld);
}

void mn_act_stats_free(mn_act_stats *s) {
    for (int g = 0; g < MN_IN_COUNT; g++) {
        free(s->sum_sq[g]);
        free(s->sum_abs[g]);
    }
    free(s->head_sum_sq);
    free(s->head_sum_abs);
    memset(s, 0, sizeof *s);
}

int mn_act_stats_collect(const mn_model *m, const mn_calib_text *c, mn_act_stats *s, bool progress) {
    const mn_hparams *hp = &m->hp;
    memset(s, 0, sizeof *s);
    s->n_layers = hp->n_layers;
    s->width[MN_IN_ATTN] = hp->dim;
    s->width[MN_IN_ATTN_O] = hp->n_heads * hp->head_dim;
    s->width[MN_IN_FFN] = hp->dim;
    s->width[MN_IN_DOWN] = hp->ffn_dim;
    int ok = 1;
    for (int g = 0; g < MN_IN_COUNT; g++) {
        s->sum_sq[g] = calloc((size_t)hp->n_layers * s->width[g], sizeof(double));
        s->sum_abs[g] = calloc((size_t)hp->n_layers * s->width[g], sizeof(double));
        ok &= s->sum_sq[g] && s->sum_abs[g];
    }
    s->head_sum_sq = calloc((size_t)hp->dim, sizeof(double));
    s->head_sum_abs = calloc((size_t)hp->dim, sizeof(double));
    /* the output layer's statistics come from the second half of each chunk, which keeps the
     * logits buffer at half a chunk */
    const int first = c->ctx / 2;
    float *logits = malloc((size_t)(c->ctx - first) * hp->n_vocab * sizeof(float));
    mn_forward *f = ok && s->head_sum_sq && s->head_sum_abs && logits ? mn_forward_new(m, c->ctx) : NULL;
    if (!f) {
        free(logits);
        mn_act_stats_free(s);
        return mn_has_error() ? -1 : mn_fail("out of memory for calibration statistics");
    }
    mn_forward_set_tap(f, stats_tap, s);
    mn_progress bar;
    mn_progress_begin(&bar, "calibration", (uint64_t)c->n_chunks, "chunks");
    if (!progress) bar.active = 0;
    int rc = 0;
    for (int i = 0; i < c->n_chunks && rc == 0; i++) {
        rc = mn_forward_logits(f, c->ids + (size_t)i * c->ctx, c->ctx, first, logits);
        s->tokens += c->ctx;
        mn_progress_update(&bar, (uint64_t)i + 1, NULL);
    }
    mn_progress_end(&bar);
    mn_forward_free(f);
    free(logits);
    if (rc != 0) mn_act_stats_free(s);
    return rc;
}

void mn_act_stats_importance(const mn_act_stats *s, mn_weight_role role, int layer, float *out) {
    int g = mn_input_group_of(role);
    const double *sum = role == MN_W_OUTPUT || role == MN_W_TOKEN_EMBD ? s->head_sum_sq
                                                                       : s->sum_sq[g] + (size_t)layer * s->width[g];
    int64_t count = g < 0 ? s->head_tokens : s->tokens;
    int width = g < 0 ? s->width[MN_IN_ATTN] : s->width[g];
    for (int i = 0; i < width; i++) out[i] = count ? (float)(sum[i] / (double)count) : 1.0f;
}
