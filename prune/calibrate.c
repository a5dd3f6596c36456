/* Activation statistics for pruning, from calibration text run through the model's forward
 * taps. The sequences go through the model a layer at a time (all sequences through layer 0,
 * then layer 1, ...), holding every sequence's residual stream, so only one layer's weights are
 * needed at a time and the rest can leave memory: what keeps a 1B-parameter run small. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/progress.h"
#include "model/forward.h"
#include "model/matmul.h"
#include "model/ops.h"
#include "prune/prune_internal.h"

int prune_calib_sequences(const mn_prune_options *opt) {
    const int ctx = opt->calib_ctx;
    size_t avail = opt->calib ? opt->calib->n : 0;
    if (ctx < 8) return mn_fail("calibration sequences of %d tokens are too short", ctx);
    if (opt->calib_tokens > 0 && (size_t)opt->calib_tokens < avail) avail = (size_t)opt->calib_tokens;
    if (avail < (size_t)ctx)
        return mn_fail("%s: calibration text is too short: %zu tokens, calibration needs at least one sequence of %d",
                       opt->calib_name ? opt->calib_name : "calibration", opt->calib ? opt->calib->n : 0, ctx);
    return (int)(avail / (size_t)ctx);
}

/* The first token of each sequence is BOS, as in perplexity chunks, so every sequence looks
 * like the start of a text to the model. */
static void load_sequence(const mn_model *m, const mn_prune_options *opt, int s, int32_t *dst) {
    const int ctx = opt->calib_ctx;
    memcpy(dst, opt->calib->ids + (size_t)s * ctx, (size_t)ctx * sizeof *dst);
    const mn_vocab *v = m->tok ? mn_tokenizer_vocab(m->tok) : NULL;
    if (v && v->add_bos && v->bos_id >= 0) dst[0] = v->bos_id;
}

void prune_stats_free(prune_stats *st) {
    free(st->ffn);
    free(st->heads);
    free(st->hidden);
    free(st->resid);
    free(st->cos);
    memset(st, 0, sizeof *st);
}

typedef struct {
    prune_stats *st;
    const mn_hparams *hp;
    /* The current layer's output projection split by head, head h's columns as an f32 matrix
     * [dim][head_dim] (o_head views one), so what each head writes into the residual stream
     * can be measured on its own. */
    float *o_heads;
    mn_tensor o_head;
    mn_matmul_scratch *mm;
    float *y; /* ctx x max(dim, heads x head_dim) */
    int failed; /* a tap cannot return an error: the walker checks this after each block */
} tap_state;

static void split_o_heads(tap_state *t, const mn_tensor *o) {
    const int hd = t->hp->head_dim, H = t->hp->n_heads, dim = t->hp->dim;
    for (int r = 0; r < dim; r++) {
        mn_tensor_rows_to_f32(o, r, 1, t->y);
        for (int h = 0; h < H; h++)
            memcpy(t->o_heads + ((size_t)h * dim + r) * hd, t->y + (size_t)h * hd, (size_t)hd * sizeof(float));
    }
}

/* acc[j] += sum over rows of x[r][j]^2 */
static void add_squares(double *acc, const float *x, int rows, int cols, int ld) {
    for (int r = 0; r < rows; r++) {
        const float *row = x + (size_t)r * ld;
        for (int j = 0; j < cols; j++) acc[j] += (double)row[j] * row[j];
    }
}

static double row_sq(const float *v, int n) {
    double sq = 0;
    for (int i = 0; i < n; i++) sq += (double)v[i] * v[i];
    return sq;
}

static void on_tap(void *ctx, int layer, mn_tap_point point, const float *x, int rows, int cols, int ld) {
    tap_state *t = ctx;
    prune_stats *st = t->st;
    const int dim = st->dim, hd = t->hp->head_dim;
    switch (point) {
    case MN_TAP_ATTN_INPUT:
    case MN_TAP_FFN_INPUT:
        add_squares(st->hidden + (size_t)(2 * layer + (point == MN_TAP_FFN_INPUT)) * dim, x, rows, cols, ld);
        break;
    case MN_TAP_FFN_HIDDEN: add_squares(st->ffn + (size_t)layer * st->n_ffn, x, rows, cols, ld); break;
    case MN_TAP_ATTN_OUTPUT:
        for (int h = 0; h < st->n_heads; h++) {
            t->o_head.data = t->o_heads + (size_t)h * dim * hd;
            if (mn_matmul(t->mm, x + (size_t)h * hd, rows, ld, &t->o_head, 0, dim, t->y, dim, 0) != 0) {
                t->failed = 1;
                return;
            }
            double sum = 0;
            for (int r = 0; r < rows; r++) sum += row_sq(t->y + (size_t)r * dim, dim);
            st->heads[(size_t)layer * st->n_heads + h] += sum;
        }
        break;
    default: break;
    }
}

/* Residual energy per channel, and the cosine between each token's block input and output. */
static void residual_stats(prune_stats *st, int layer, const float *in, const float *out, int rows) {
    const int dim = st->dim;
    add_squares(st->resid + (size_t)layer * dim, in, rows, dim, dim);
    for (int r = 0; out && r < rows; r++) {
        const float *a = in + (size_t)r * dim, *b = out + (size_t)r * dim;
        double ab = 0, aa = row_sq(a, dim), bb = row_sq(b, dim);
        for (int i = 0; i < dim; i++) ab += (double)a[i] * b[i];
        st->cos[layer] += aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : 1.0;
    }
}

static int stats_alloc(prune_stats *st, const mn_hparams *hp, int n_seq, int ctx) {
    const size_t L = (size_t)hp->n_layers;
    *st = (prune_stats){.n_layers = hp->n_layers, .dim = hp->dim, .n_ffn = hp->ffn_dim, .n_heads = hp->n_heads,
                        .sequences = n_seq, .tokens = n_seq * ctx};
    st->ffn = calloc(L * hp->ffn_dim, sizeof *st->ffn);
    st->heads = calloc(L * hp->n_heads, sizeof *st->heads);
    st->hidden = calloc(2 * L * hp->dim, sizeof *st->hidden);
    st->resid = calloc((L + 1) * hp->dim, sizeof *st->resid);
    st->cos = calloc(L, sizeof *st->cos);
    return st->ffn && st->heads && st->hidden && st->resid && st->cos ? 0 : -1;
}

int prune_calibrate(const mn_model *m, const mn_prune_options *opt, prune_stats *st) {
    const mn_hparams *hp = &m->hp;
    const int L = hp->n_layers, dim = hp->dim, ctx = opt->calib_ctx, q = hp->n_heads * hp->head_dim;
    memset(st, 0, sizeof *st);
    int n_seq = prune_calib_sequences(opt);
    if (n_seq < 0) return -1;
    tap_state ts = {.st = st, .hp = hp};
    ts.o_head = (mn_tensor){.type = MN_F32, .n_dims = 2, .ne = {hp->head_dim, dim, 1, 1},
                            .nbytes = (size_t)dim * hp->head_dim * sizeof(float)};
    ts.o_heads = malloc((size_t)dim * q * sizeof(float));
    ts.y = malloc((size_t)ctx * (dim > q ? dim : q) * sizeof(float));
    ts.mm = mn_matmul_scratch_new();
    float *x = malloc((size_t)n_seq * ctx * dim * sizeof(float));
    float *in = malloc((size_t)ctx * dim * sizeof(float));
    int32_t *ids = malloc((size_t)ctx * sizeof *ids);
    mn_forward *f = mn_forward_new(m, ctx);
    int rc = 0;
    if (stats_alloc(st, hp, n_seq, ctx) != 0 || !ts.o_heads || !ts.y || !ts.mm || !x || !in || !ids)
        rc = mn_fail("out of memory for calibration (%d sequences of %d tokens)", n_seq, ctx);
    else if (!f)
        rc = -1;
    if (rc == 0) mn_forward_set_tap(f, on_tap, &ts);
    for (int s = 0; s < n_seq && rc == 0; s++) {
        load_sequence(m, opt, s, ids);
        rc = mn_forward_embed(f, ids, ctx, x + (size_t)s * ctx * dim);
    }
    prune_release(m, &m->tok_embd);
    mn_progress bar;
    mn_progress_begin(&bar, "calibrate", (uint64_t)L, "layers");
    if (!opt->progress) bar.active = 0;
    for (int l = 0; l < L && rc == 0; l++) {
        split_o_heads(&ts, &m->layers[l].w[MN_W_O]);
        for (int s = 0; s < n_seq && rc == 0; s++) {
            float *xs = x + (size_t)s * ctx * dim;
            memcpy(in, xs, (size_t)ctx * dim * sizeof(float));
            rc = mn_forward_block(f, &m->layers[l], l, xs, ctx) || ts.failed ? -1 : 0;
            if (rc == 0) residual_stats(st, l, in, xs, ctx);
        }
        prune_release_layer(m, l);
        mn_progress_update(&bar, (uint64_t)l + 1, NULL);
    }
    mn_progress_end(&bar);
    for (int s = 0; s < n_seq && rc == 0; s++) residual_stats(st, L, x + (size_t)s * ctx * dim, NULL, ctx);
    mn_forward_free(f);
    mn_matmul_scratch_free(ts.mm);
    free(ts.o_heads);
    free(ts.y);
    free(x);
    free(in);
    free(ids);
    if (rc != 0) prune_stats_free(st);
    return rc;
}

/* Mean next-token loss over the calibration sequences with one layer skipped (skip < 0: none).
 * The output layer runs on slices of rows so a large vocabulary needs little memory. */
#define HEAD_ROWS 64
static int sequence_loss(const mn_model *m, mn_forward *f, const int32_t *ids, int n, int skip, float *x,
                         float *logits, double *sum) {
    const int dim = m->hp.dim, vocab = m->hp.n_vocab;
    int rc = mn_forward_embed(f, ids, n, x);
    for (int l = 0; l < m->hp.n_layers && rc == 0; l++)
        if (l != skip) rc = mn_forward_block(f, &m->layers[l], l, x, n);
    for (int r0 = 0; r0 < n - 1 && rc == 0; r0 += HEAD_ROWS) {
        int rows = n - 1 - r0 < HEAD_ROWS ? n - 1 - r0 : HEAD_ROWS;
        rc = mn_forward_head(f, x + (size_t)r0 * dim, rows, 0, logits);
        for (int r = 0; r < rows && rc == 0; r++) {
            const float *row = logits + (size_t)r * vocab;
            *sum += mn_log_sum_exp(row, vocab) - row[ids[r0 + r + 1]];
        }
    }
    return rc;
}

int prune_layer_loss(const mn_model *m, const mn_prune_options *opt, double *loss) {
    const int L = m->hp.n_layers, ctx = opt->calib_ctx;
    int n_seq = prune_calib_sequences(opt);
    if (n_seq < 0) return -1;
    float *x = malloc((size_t)ctx * m->hp.dim * sizeof(float));
    float *logits = malloc((size_t)HEAD_ROWS * m->hp.n_vocab * sizeof(float));
    int32_t *ids = malloc((size_t)ctx * sizeof *ids);
    mn_forward *f = mn_forward_new(m, ctx);
    int rc = !x || !logits || !ids ? mn_fail("out of memory for layer losses") : f ? 0 : -1;
    mn_progress bar;
    mn_progress_begin(&bar, "layer loss", (uint64_t)(L + 1) * n_seq, "passes");
    if (!opt->progress) bar.active = 0;
    for (int skip = 0; skip <= L && rc == 0; skip++) {
        double sum = 0;
        for (int s = 0; s < n_seq && rc == 0; s++) {
            load_sequence(m, opt, s, ids);
            rc = sequence_loss(m, f, ids, ctx, skip < L ? skip : -1, x, logits, &sum);
            char detail[32] = "all layers";
            if (skip < L) snprintf(detail, sizeof detail, "without layer %d", skip);
            mn_progress_update(&bar, (uint64_t)skip * n_seq + s + 1, detail);
        }
        loss[skip] = sum / ((double)n_seq * (ctx - 1));
    }
    mn_progress_end(&bar);
    mn_forward_free(f);
    free(x);
    free(logits);
    free(ids);
    return rc;
}
