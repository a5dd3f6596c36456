/* Building the pruned model: every tensor a kept structure touches is gathered (kept rows,
 * kept columns) into a buffer the new model owns, in the source's type, a row at a time, and
 * the source's pages are let go as soon as a tensor is done. Tensors no axis touches stay views
 * of the source, so an FFN-only prune copies only the FFN. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/progress.h"
#include "model/matmul.h"
#include "prune/prune_internal.h"

/* Index sets a role's rows or columns are taken from. */
typedef enum { SEL_ALL, SEL_HIDDEN, SEL_Q, SEL_KV, SEL_QKV, SEL_FFN, SEL_GATE_UP, SEL_COUNT } sel_kind;

typedef struct {
    const int *idx; /* NULL: every index */
    int64_t n;
} selection;

static const struct {
    sel_kind rows, cols;
} role_sel[MN_W_COUNT] = {
    [MN_W_ATTN_NORM] = {SEL_ALL, SEL_HIDDEN}, [MN_W_FFN_NORM] = {SEL_ALL, SEL_HIDDEN},
    [MN_W_Q] = {SEL_Q, SEL_HIDDEN},           [MN_W_K] = {SEL_KV, SEL_HIDDEN},
    [MN_W_V] = {SEL_KV, SEL_HIDDEN},          [MN_W_QKV] = {SEL_QKV, SEL_HIDDEN},
    [MN_W_O] = {SEL_HIDDEN, SEL_Q},           [MN_W_GATE] = {SEL_FFN, SEL_HIDDEN},
    [MN_W_UP] = {SEL_FFN, SEL_HIDDEN},        [MN_W_GATE_UP] = {SEL_GATE_UP, SEL_HIDDEN},
    [MN_W_DOWN] = {SEL_HIDDEN, SEL_FFN},      [MN_W_BQ] = {SEL_ALL, SEL_Q},
    [MN_W_BK] = {SEL_ALL, SEL_KV},            [MN_W_BV] = {SEL_ALL, SEL_KV},
};

/* Plain types are copied exactly (f16/bf16 -> f32 -> f16/bf16 is lossless); block types cannot
 * lose columns inside a block, so they become f16. */
static mn_dtype gathered_type(mn_dtype t) { return t == MN_F32 || t == MN_F16 || t == MN_BF16 ? t : MN_F16; }

static void narrow_row(mn_dtype type, const float *src, void *dst, int64_t n) {
    if (type == MN_F32) memcpy(dst, src, (size_t)n * sizeof(float));
    else if (type == MN_F16) mn_f32_to_f16_row(src, dst, n);
    else mn_f32_to_bf16_row(src, dst, n);
}

/* out = t[rows][cols] * scale, or a view of t when nothing changes. */
static int gather(mn_model *dst, const mn_model *src, mn_tensor *out, const mn_tensor *t, const char *name,
                  selection rows, selection cols, float scale) {
    if (!rows.idx && !cols.idx && scale == 1.0f) {
        *out = *t;
        return 0;
    }
    const mn_dtype type = gathered_type(t->type);
    const int64_t ne0 = t->ne[0], out_ne0 = cols.idx ? cols.n : ne0;
    const int64_t out_rows = rows.idx ? rows.n : mn_tensor_nrows(t);
    char *data = mn_model_new_tensor(dst, out, name, type, out_ne0, out_rows);
    if (!data) return -1;
    const size_t row_bytes = mn_dtype_row_bytes(type, out_ne0);
    int failed = 0;
#pragma omp parallel
    {
        float *wide = malloc((size_t)(ne0 + out_ne0) * sizeof(float));
        float *picked = wide ? wide + ne0 : NULL;
        if (!wide) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (int64_t r = 0; r < out_rows; r++) {
            if (!wide) continue;
            mn_tensor_rows_to_f32(t, rows.idx ? rows.idx[r] : r, 1, wide);
            for (int64_t j = 0; j < out_ne0; j++) picked[j] = wide[cols.idx ? cols.idx[j] : j] * scale;
            narrow_row(type, picked, data + (size_t)r * row_bytes, out_ne0);
        }
        free(wide);
    }
    prune_release(src, t);
    return failed ? mn_fail("out of memory pruning %s", name) : 0;
}

/* Index sets of one kept layer; identity sets stay NULL so untouched tensors stay views. */
typedef struct {
    selection sel[SEL_COUNT];
    int *buf;
} layer_sets;

static selection set_of(const int *idx, int64_t n, int64_t full) { return (selection){n == full ? NULL : idx, n}; }

/* rows of each kept unit of `width` rows, shifted by `offset`. */
static int *expand(int *out, const int *units, int n, int width, int offset) {
    for (int u = 0; u < n; u++)
        for (int i = 0; i < width; i++) *out++ = offset + units[u] * width + i;
    return out;
}

static int layer_sets_init(layer_sets *s, const mn_hparams *src, const prune_plan *p, int i) {
    const mn_hparams *hp = &p->hp;
    const int hd = src->head_dim, q = hp->n_heads * hd, kv = hp->n_kv_heads * hd;
    const int src_q = src->n_heads * hd, src_kv = src->n_kv_heads * hd, F = src->ffn_dim;
    memset(s, 0, sizeof *s);
    s->buf = malloc((size_t)(2 * q + 4 * kv + 2 * hp->ffn_dim) * sizeof *s->buf);
    if (!s->buf) return mn_fail("out of memory for the pruning plan");
    const int *heads = p->heads + (size_t)i * hp->n_heads, *groups = p->groups + (size_t)i * hp->n_kv_heads;
    const int *ffn = p->ffn + (size_t)i * hp->ffn_dim;
    int *q_rows = s->buf, *kv_rows = q_rows + q, *qkv = kv_rows + kv, *gate_up = qkv + q + 2 * kv;
    expand(q_rows, heads, hp->n_heads, hd, 0);
    expand(kv_rows, groups, hp->n_kv_heads, hd, 0);
    expand(expand(expand(qkv, heads, hp->n_heads, hd, 0), groups, hp->n_kv_heads, hd, src_q), groups,
           hp->n_kv_heads, hd, src_q + src_kv);
    expand(expand(gate_up, ffn, hp->ffn_dim, 1, 0), ffn, hp->ffn_dim, 1, F);
    s->sel[SEL_ALL] = (selection){NULL, 0};
    s->sel[SEL_HIDDEN] = set_of(p->hidden, hp->dim, src->dim);
    s->sel[SEL_Q] = set_of(q_rows, q, src_q);
    s->sel[SEL_KV] = set_of(kv_rows, kv, src_kv);
    s->sel[SEL_QKV] = set_of(qkv, q + 2 * kv, src_q + 2 * src_kv);
    s->sel[SEL_FFN] = set_of(ffn, hp->ffn_dim, F);
    s->sel[SEL_GATE_UP] = set_of(gate_up, 2 * hp->ffn_dim, 2 * F);
    return 0;
}

static int prune_layer(mn_model *dst, const mn_model *src, const prune_plan *p, int i, mn_progress *bar) {
    layer_sets s;
    if (layer_sets_init(&s, &src->hp, p, i) != 0) return -1;
    const mn_layer *in = &src->layers[p->layers[i]];
    mn_layer out;
    memset(&out, 0, sizeof out);
    int rc = 0;
    for (int r = 0; r < MN_W_COUNT && rc == 0; r++) {
        if (!in->w[r].data) continue;
        char name[96];
        mn_gguf_tensor_name((mn_weight_role)r, i, name, sizeof name);
        float scale = r == MN_W_ATTN_NORM ? p->norm_scale[2 * i] : r == MN_W_FFN_NORM ? p->norm_scale[2 * i + 1] : 1.0f;
        rc = gather(dst, src, &out.w[r], &in->w[r], name, s.sel[role_sel[r].rows], s.sel[role_sel[r].cols], scale);
        mn_progress_update(bar, bar->done + 1, name);
    }
    free(s.buf);
    dst->layers[i] = out;
    return rc;
}

mn_model *prune_apply(const mn_model *src, const prune_plan *p, int progress) {
    mn_model *dst = mn_model_derive(src);
    if (!dst) return NULL;
    dst->hp = p->hp;
    const selection hidden = set_of(p->hidden, p->hp.dim, src->hp.dim), all = {NULL, 0};
    int tensors = 0;
    for (int r = 0; r < MN_W_COUNT; r++) tensors += src->layers[0].w[r].data != NULL;
    mn_progress bar;
    mn_progress_begin(&bar, "prune", (uint64_t)(p->hp.n_layers * tensors + 3), "tensors");
    if (!progress) bar.active = 0;
    int rc = gather(dst, src, &dst->tok_embd, &src->tok_embd, "token_embd.weight", all, hidden, 1.0f);
    for (int i = 0; i < p->hp.n_layers && rc == 0; i++) rc = prune_layer(dst, src, p, i, &bar);
    if (rc == 0)
        rc = gather(dst, src, &dst->output_norm, &src->output_norm, "output_norm.weight", all, hidden,
                    p->output_norm_scale);
    if (rc == 0 && !src->hp.tied_embeddings)
        rc = gather(dst, src, &dst->output, &src->output, "output.weight", all, hidden, 1.0f);
    else
        dst->output = dst->tok_embd;
    mn_progress_update(&bar, bar.total, NULL);
    mn_progress_end(&bar);
    if (rc != 0) {
        mn_model_free(dst);
        return NULL;
    }
    return dst;
}
