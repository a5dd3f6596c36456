#include "model/forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "model/matmul.h"
#include "model/ops.h"

struct mn_forward {
    const mn_model *m;
    int max_tokens;
    mn_rope_table rope;
    mn_matmul_scratch *mm;
    float *xn;    /* normed activations, max_tokens × dim */
    float *qkv;   /* max_tokens × (n_heads + 2 n_kv) head_dim */
    float *attn;  /* max_tokens × n_heads head_dim */
    float *ffn;   /* max_tokens × 2 ffn: gate then up */
    float *vec;   /* one widened norm or bias vector */
    mn_tap_fn tap;
    void *tap_ctx;
};

void mn_forward_free(mn_forward *f) {
    if (!f) return;
    mn_rope_table_free(&f->rope);
    mn_matmul_scratch_free(f->mm);
    free(f->xn);
    free(f->qkv);
    free(f->attn);
    free(f->ffn);
    free(f->vec);
    free(f);
}

static int qkv_width(const mn_hparams *hp) { return (hp->n_heads + 2 * hp->n_kv_heads) * hp->head_dim; }

mn_forward *mn_forward_new(const mn_model *m, int max_tokens) {
    const mn_hparams *hp = &m->hp;
    mn_forward *f = calloc(1, sizeof *f);
    if (!f) goto oom;
    f->m = m;
    f->max_tokens = max_tokens;
    size_t n = (size_t)max_tokens;
    int vec_len = hp->dim > hp->ffn_dim ? hp->dim : hp->ffn_dim;
    if (qkv_width(hp) > vec_len) vec_len = qkv_width(hp);
    f->mm = mn_matmul_scratch_new();
    f->xn = malloc(n * (size_t)hp->dim * sizeof(float));
    f->qkv = malloc(n * (size_t)qkv_width(hp) * sizeof(float));
    f->attn = malloc(n * (size_t)(hp->n_heads * hp->head_dim) * sizeof(float));
    f->ffn = malloc(n * (size_t)(2 * hp->ffn_dim) * sizeof(float));
    f->vec = malloc((size_t)vec_len * sizeof(float));
    if (!f->mm || !f->xn || !f->qkv || !f->attn || !f->ffn || !f->vec) goto oom;
    float *freq_factors = NULL;
    if (m->rope_freqs.data) {
        freq_factors = malloc((size_t)(hp->head_dim / 2) * sizeof(float));
        if (!freq_factors) goto oom;
        mn_tensor_rows_to_f32(&m->rope_freqs, 0, 1, freq_factors);
    }
    int rc = mn_rope_table_init(&f->rope, hp, freq_factors, max_tokens);
    free(freq_factors);
    if (rc != 0) {
        mn_forward_free(f);
        return NULL;
    }
    return f;
oom:
    mn_forward_free(f);
    mn_fail("out of memory for a %d-token forward pass", max_tokens);
    return NULL;
}

void mn_forward_set_tap(mn_forward *f, mn_tap_fn fn, void *ctx) {
    f->tap = fn;
    f->tap_ctx = ctx;
}

static void tap(mn_forward *f, int layer, mn_tap_point point, const float *x, int rows, int cols, int ld) {
    if (f->tap) f->tap(f->tap_ctx, layer, point, x, rows, cols, ld);
}

static const float *widen_vector(mn_forward *f, const mn_tensor *t) {
    mn_tensor_rows_to_f32(t, 0, 1, f->vec);
    return f->vec;
}

static void add_bias(mn_forward *f, const mn_tensor *b, float *y, int ld, int n) {
    if (!b->data) return;
    const float *bias = widen_vector(f, b);
    const int64_t len = b->ne[0];
    for (int r = 0; r < n; r++)
        for (int64_t i = 0; i < len; i++) y[(size_t)r * ld + i] += bias[i];
}

int mn_forward_embed(mn_forward *f, const int32_t *tokens, int n, float *x) {
    const mn_model *m = f->m;
    if (n > f->max_tokens) return mn_fail("sequence of %d tokens exceeds the workspace (%d)", n, f->max_tokens);
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= m->hp.n_vocab)
            return mn_fail("token id %d is outside the vocabulary (%d)", tokens[i], m->hp.n_vocab);
        mn_tensor_rows_to_f32(&m->tok_embd, tokens[i], 1, x + (size_t)i * m->hp.dim);
    }
    return 0;
}

/* Names the first weight of the block holding NaN/Inf, to turn "the output is NaN" into
 * something a user can act on. */
static int report_nonfinite(const mn_model *m, const mn_layer *w, int layer) {
    size_t cap = 0;
    float *row = NULL;
    for (int r = 0; r < MN_W_COUNT; r++) {
        const mn_tensor *t = &w->w[r];
        if (!t->data) continue;
        if ((size_t)t->ne[0] > cap) {
            free(row);
            cap = (size_t)t->ne[0];
            row = malloc(cap * sizeof(float));
            if (!row) break;
        }
        for (int64_t i = 0; i < mn_tensor_nrows(t); i++) {
            mn_tensor_rows_to_f32(t, i, 1, row);
            if (!mn_all_finite(row, t->ne[0])) {
                free(row);
                return mn_fail("%s: tensor %s contains NaN or Inf (row %lld)", m->path, t->name, (long long)i);
            }
        }
    }
    free(row);
    return mn_fail("%s: layer %d produced non-finite activations (the weights are finite: the values overflow)",
                   m->path, layer);
}

int mn_forward_block(mn_forward *f, const mn_layer *w, int layer, float *x, int n) {
    const mn_model *m = f->m;
    const mn_hparams *hp = &m->hp;
    const int dim = hp->dim, hd = hp->head_dim, qw = hp->n_heads * hd, kvw = hp->n_kv_heads * hd;
    const int qkv_ld = qkv_width(hp), ffn = hp->ffn_dim;
    if (n > f->max_tokens) return mn_fail("sequence of %d tokens exceeds the workspace (%d)", n, f->max_tokens);
    tap(f, layer, MN_TAP_BLOCK_INPUT, x, n, dim, dim);

    mn_rmsnorm_rows(x, dim, f->xn, dim, widen_vector(f, &w->w[MN_W_ATTN_NORM]), n, dim, hp->norm_eps);
    tap(f, layer, MN_TAP_ATTN_INPUT, f->xn, n, dim, dim);
    float *q = f->qkv, *k = f->qkv + qw, *v = f->qkv + qw + kvw;
    if (w->w[MN_W_QKV].data) {
        if (mn_matmul(f->mm, f->xn, n, dim, &w->w[MN_W_QKV], 0, qkv_ld, f->qkv, qkv_ld, 0)) return -1;
    } else {
        if (mn_matmul(f->mm, f->xn, n, dim, &w->w[MN_W_Q], 0, qw, q, qkv_ld, 0) ||
            mn_matmul(f->mm, f->xn, n, dim, &w->w[MN_W_K], 0, kvw, k, qkv_ld, 0) ||
            mn_matmul(f->mm, f->xn, n, dim, &w->w[MN_W_V], 0, kvw, v, qkv_ld, 0))
            return -1;
        add_bias(f, &w->w[MN_W_BQ], q, qkv_ld, n);
        add_bias(f, &w->w[MN_W_BK], k, qkv_ld, n);
        add_bias(f, &w->w[MN_W_BV], v, qkv_ld, n);
    }
    mn_rope_apply(&f->rope, q, qkv_ld, n, hp->n_heads, hd, hp->rope_layout);
    mn_rope_apply(&f->rope, k, qkv_ld, n, hp->n_kv_heads, hd, hp->rope_layout);
    if (mn_attention_causal(q, qkv_ld, k, v, qkv_ld, f->attn, qw, n, hp->n_heads, hp->n_kv_heads, hd, NULL)) return -1;
    tap(f, layer, MN_TAP_ATTN_OUTPUT, f->attn, n, qw, qw);
    if (mn_matmul(f->mm, f->attn, n, qw, &w->w[MN_W_O], 0, dim, x, dim, 1.0f)) return -1;

    mn_rmsnorm_rows(x, dim, f->xn, dim, widen_vector(f, &w->w[MN_W_FFN_NORM]), n, dim, hp->norm_eps);
    tap(f, layer, MN_TAP_FFN_INPUT, f->xn, n, dim, dim);
    float *gate = f->ffn, *up = f->ffn + ffn;
    if (w->w[MN_W_GATE_UP].data) {
        if (mn_matmul(f->mm, f->xn, n, dim, &w->w[MN_W_GATE_UP], 0, 2 * ffn, f->ffn, 2 * ffn, 0)) return -1;
    } else if (mn_matmul(f->mm, f->xn, n, dim, &w->w[MN_W_GATE], 0, ffn, gate, 2 * ffn, 0) ||
               mn_matmul(f->mm, f->xn, n, dim, &w->w[MN_W_UP], 0, ffn, up, 2 * ffn, 0)) {
        return -1;
    }
    mn_swiglu_rows(gate, 2 * ffn, up, 2 * ffn, n, ffn);
    tap(f, layer, MN_TAP_FFN_HIDDEN, gate, n, ffn, 2 * ffn);
    if (mn_matmul(f->mm, gate, n, 2 * ffn, &w->w[MN_W_DOWN], 0, dim, x, dim, 1.0f)) return -1;

    if (!mn_all_finite(x, (int64_t)n * dim)) return report_nonfinite(m, w, layer);
    return 0;
}

int mn_forward_head(mn_forward *f, const float *x, int n, int first, float *logits) {
    const mn_model *m = f->m;
    const int dim = m->hp.dim, rows = n - first;
    if (rows <= 0) return 0;
    tap(f, m->hp.n_layers, MN_TAP_BLOCK_INPUT, x, n, dim, dim);
    mn_rmsnorm_rows(x + (size_t)first * dim, dim, f->xn, dim, widen_vector(f, &m->output_norm), rows, dim,
                    m->hp.norm_eps);
    tap(f, -1, MN_TAP_HEAD_INPUT, f->xn, rows, dim, dim);
    if (mn_matmul(f->mm, f->xn, rows, dim, &m->output, 0, m->hp.n_vocab, logits, m->hp.n_vocab, 0)) return -1;
    if (!mn_all_finite(logits, (int64_t)rows * m->hp.n_vocab))
        return mn_fail("%s: the output layer produced non-finite logits", m->path);
    return 0;
}

int mn_forward_logits(mn_forward *f, const int32_t *tokens, int n, int first, float *logits) {
    const mn_model *m = f->m;
    float *x = malloc((size_t)n * (size_t)m->hp.dim * sizeof(float));
    if (!x) return mn_fail("out of memory for a %d-token forward pass", n);
    int rc = mn_forward_embed(f, tokens, n, x);
    for (int l = 0; l < m->hp.n_layers && rc == 0; l++) rc = mn_forward_block(f, &m->layers[l], l, x, n);
    if (rc == 0) rc = mn_forward_head(f, x, n, first, logits);
    free(x);
    return rc;
}
