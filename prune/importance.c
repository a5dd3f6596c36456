/* Importance of every prunable structure: from calibration activations (the method), from
 * weight norms and at random (the baselines it must beat). Higher scores are kept. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "model/matmul.h"
#include "prune/prune_internal.h"

void prune_scores_free(prune_scores *sc) {
    free(sc->ffn);
    free(sc->heads);
    free(sc->groups);
    free(sc->hidden);
    free(sc->layers);
    memset(sc, 0, sizeof *sc);
}

static bool has(unsigned axes, mn_prune_axis_id a) { return axes & (1u << a); }

static int alloc_scores(const mn_hparams *hp, unsigned axes, prune_scores *sc) {
    const size_t L = (size_t)hp->n_layers;
    memset(sc, 0, sizeof *sc);
    bool attn = has(axes, MN_AXIS_HEADS) || has(axes, MN_AXIS_KV_GROUPS);
    if (has(axes, MN_AXIS_FFN) && !(sc->ffn = calloc(L * hp->ffn_dim, sizeof(double)))) goto oom;
    if (attn && !(sc->heads = calloc(L * hp->n_heads, sizeof(double)))) goto oom;
    if (attn && !(sc->groups = calloc(L * hp->n_kv_heads, sizeof(double)))) goto oom;
    if (has(axes, MN_AXIS_HIDDEN) && !(sc->hidden = calloc((size_t)hp->dim, sizeof(double)))) goto oom;
    if (has(axes, MN_AXIS_LAYERS) && !(sc->layers = calloc(L, sizeof(double)))) goto oom;
    return 0;
oom:
    prune_scores_free(sc);
    return mn_fail("out of memory for importance scores");
}

/* ---------------------------------------------------------------- magnitude */

/* Squared L2 norms of every row and every column of a tensor, read a block of rows at a time. */
typedef struct {
    double *row, *col;
} sq_norms;


static void sq_norms_free(sq_norms *s) {
    free(s->row);
    free(s->col);
    s->row = s->col = NULL;
}

#define SQ_BLOCK_FLOATS (1 << 20)
static int tensor_sq_norms(const mn_model *m, const mn_tensor *t, sq_norms *out) {
    const int64_t ne0 = t->ne[0], rows = mn_tensor_nrows(t);
    int64_t block = SQ_BLOCK_FLOATS / ne0 > 0 ? SQ_BLOCK_FLOATS / ne0 : 1;
    if (block > rows) block = rows;
    out->row = calloc((size_t)rows, sizeof(double));
    out->col = calloc((size_t)ne0, sizeof(double));
    float *buf = malloc((size_t)(block * ne0) * sizeof(float));
    if (!out->row || !out->col || !buf) {
        free(buf);
        sq_norms_free(out);
        return mn_fail("out of memory reading %s", t->name);
    }
    for (int64_t r0 = 0; r0 < rows; r0 += block) {
        int64_t n = rows - r0 < block ? rows - r0 : block;
        mn_tensor_rows_to_f32(t, r0, n, buf);
        for (int64_t r = 0; r < n; r++) {
            const float *v = buf + r * ne0;
            double sum = 0;
            for (int64_t j = 0; j < ne0; j++) {
                double sq = (double)v[j] * v[j];
                sum += sq;
                out->col[j] += sq;
            }
            out->row[r0 + r] = sum;
        }
    }
    free(buf);
    prune_release(m, t);
    return 0;
}

/* One layer's norms, with fused tensors split into their parts. */
typedef struct {
    sq_norms qkv[3], bias[3], o, gate_up[2], down; /* q, k, v (biases: elements in .col) */
    const double *q_row, *k_row, *v_row, *gate_row, *up_row;
} layer_norms;

static void layer_norms_free(layer_norms *n) {
    for (int i = 0; i < 3; i++) {
        sq_norms_free(&n->qkv[i]);
        sq_norms_free(&n->bias[i]);
    }
    for (int i = 0; i < 2; i++) sq_norms_free(&n->gate_up[i]);
    sq_norms_free(&n->o);
    sq_norms_free(&n->down);
}

static int read_layer_norms(const mn_model *m, int l, layer_norms *n) {
    const mn_layer *w = &m->layers[l];
    const int64_t q = (int64_t)m->hp.n_heads * m->hp.head_dim, kv = (int64_t)m->hp.n_kv_heads * m->hp.head_dim;
    const int64_t F = m->hp.ffn_dim;
    memset(n, 0, sizeof *n);
    int rc = 0;
    if (w->w[MN_W_QKV].data) {
        rc = tensor_sq_norms(m, &w->w[MN_W_QKV], &n->qkv[0]);
        n->q_row = n->qkv[0].row, n->k_row = n->qkv[0].row + q, n->v_row = n->qkv[0].row + q + kv;
    } else {
        rc = tensor_sq_norms(m, &w->w[MN_W_Q], &n->qkv[0]) || tensor_sq_norms(m, &w->w[MN_W_K], &n->qkv[1]) ||
             tensor_sq_norms(m, &w->w[MN_W_V], &n->qkv[2]);
        n->q_row = n->qkv[0].row, n->k_row = n->qkv[1].row, n->v_row = n->qkv[2].row;
    }
    for (int i = 0; i < 3 && rc == 0; i++)
        if (w->w[MN_W_BQ + i].data) rc = tensor_sq_norms(m, &w->w[MN_W_BQ + i], &n->bias[i]);
    if (rc == 0) rc = tensor_sq_norms(m, &w->w[MN_W_O], &n->o);
    if (rc == 0 && w->w[MN_W_GATE_UP].data) {
        rc = tensor_sq_norms(m, &w->w[MN_W_GATE_UP], &n->gate_up[0]);
        n->gate_row = n->gate_up[0].row, n->up_row = n->gate_up[0].row + F;
    } else if (rc == 0) {
        rc = tensor_sq_norms(m, &w->w[MN_W_GATE], &n->gate_up[0]) || tensor_sq_norms(m, &w->w[MN_W_UP], &n->gate_up[1]);
        n->gate_row = n->gate_up[0].row, n->up_row = n->gate_up[1].row;
    }
    if (rc == 0) rc = tensor_sq_norms(m, &w->w[MN_W_DOWN], &n->down);
    if (rc != 0) layer_norms_free(n);
    return rc;
}

static double span_sum(const double *v, int64_t first, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += v[first + i];
    return s;
}

/* Squared norms accumulated per structure, square-rooted at the end: a structure's magnitude is
 * the L2 norm of every weight it owns. */
static void magnitude_layer(const mn_hparams *hp, int l, const layer_norms *n, prune_scores *sc) {
    const int F = hp->ffn_dim, H = hp->n_heads, G = hp->n_kv_heads, hd = hp->head_dim, D = hp->dim;
    if (sc->ffn)
        for (int j = 0; j < F; j++)
            sc->ffn[(size_t)l * F + j] = sqrt(n->gate_row[j] + n->up_row[j] + n->down.col[j]);
    if (sc->heads) {
        for (int h = 0; h < H; h++) {
            double sq = span_sum(n->q_row, (int64_t)h * hd, hd) + span_sum(n->o.col, (int64_t)h * hd, hd);
            if (n->bias[0].col) sq += span_sum(n->bias[0].col, (int64_t)h * hd, hd);
            sc->heads[(size_t)l * H + h] = sq;
            sc->groups[(size_t)l * G + h / (H / G)] += sq;
        }
        for (int g = 0; g < G; g++) {
            double sq = span_sum(n->k_row, (int64_t)g * hd, hd) + span_sum(n->v_row, (int64_t)g * hd, hd);
            for (int b = 1; b < 3; b++)
                if (n->bias[b].col) sq += span_sum(n->bias[b].col, (int64_t)g * hd, hd);
            sc->groups[(size_t)l * G + g] = sqrt(sc->groups[(size_t)l * G + g] + sq);
        }
        for (int h = 0; h < H; h++) sc->heads[(size_t)l * H + h] = sqrt(sc->heads[(size_t)l * H + h]);
    }
    if (sc->hidden) /* squared until magnitude_scores finishes */
        for (int i = 0; i < D; i++) {
            double sq = n->o.row[i] + n->down.row[i];
            for (int k = 0; k < 3; k++)
                if (n->qkv[k].col) sq += n->qkv[k].col[i];
            for (int k = 0; k < 2; k++)
                if (n->gate_up[k].col) sq += n->gate_up[k].col[i];
            sc->hidden[i] += sq;
        }
    if (sc->layers) /* what the block writes into the residual stream */
        sc->layers[l] = sqrt(span_sum(n->o.row, 0, D) + span_sum(n->down.row, 0, D));
}

static int magnitude_scores(const mn_model *m, prune_scores *sc) {
    const mn_hparams *hp = &m->hp;
    int rc = 0;
    for (int l = 0; l < hp->n_layers && rc == 0; l++) {
        layer_norms n;
        rc = read_layer_norms(m, l, &n);
        if (rc == 0) magnitude_layer(hp, l, &n, sc);
        layer_norms_free(&n);
    }
    if (rc != 0 || !sc->hidden) return rc;
    const mn_tensor *embd[2] = {&m->tok_embd, hp->tied_embeddings ? NULL : &m->output};
    for (int e = 0; e < 2 && rc == 0; e++) {
        sq_norms n;
        if (!embd[e] || (rc = tensor_sq_norms(m, embd[e], &n)) != 0) continue;
        for (int i = 0; i < hp->dim; i++) sc->hidden[i] += n.col[i];
        sq_norms_free(&n);
    }
    for (int i = 0; i < hp->dim; i++) sc->hidden[i] = sqrt(sc->hidden[i]);
    return rc;
}

/* ---------------------------------------------------------------- activation */

/* Root mean square over the calibration tokens of what each structure writes into the residual
 * stream: an FFN channel writes x_j d_j (d_j its down-projection column), so its score is
 * rms(x_j) |d_j|; a head writes W_o,h a_h, measured whole during calibration; a KV group
 * writes the sum of its heads (energies add). Hidden channels: the RMS at each RMSNorm output,
 * summed over the norms. Layers: block influence 1 - mean cos(input, output), or the loss
 * increase when the layer alone is skipped. */
static int activation_scores(const mn_model *m, const prune_stats *st, const double *layer_loss, prune_scores *sc) {
    const mn_hparams *hp = &m->hp;
    const int L = hp->n_layers, F = hp->ffn_dim, H = hp->n_heads, G = hp->n_kv_heads, D = hp->dim;
    const double T = st ? st->tokens : 1;
    for (int l = 0; sc->ffn && l < L; l++) {
        sq_norms down;
        if (tensor_sq_norms(m, &m->layers[l].w[MN_W_DOWN], &down) != 0) return -1;
        for (int j = 0; j < F; j++) sc->ffn[(size_t)l * F + j] = sqrt(st->ffn[(size_t)l * F + j] / T * down.col[j]);
        sq_norms_free(&down);
    }
    for (int l = 0; sc->heads && l < L; l++) {
        for (int h = 0; h < H; h++) {
            double energy = st->heads[(size_t)l * H + h] / T;
            sc->heads[(size_t)l * H + h] = sqrt(energy);
            sc->groups[(size_t)l * G + h / (H / G)] += energy;
        }
        for (int g = 0; g < G; g++) sc->groups[(size_t)l * G + g] = sqrt(sc->groups[(size_t)l * G + g]);
    }
    for (int site = 0; sc->hidden && site < 2 * L; site++)
        for (int i = 0; i < D; i++) sc->hidden[i] += sqrt(st->hidden[(size_t)site * D + i] / T);
    for (int l = 0; sc->layers && l < L; l++)
        sc->layers[l] = layer_loss ? layer_loss[l] - layer_loss[L] : 1.0 - st->cos[l] / T;
    return 0;
}

/* ---------------------------------------------------------------- random */

static void fill_random(mn_rng *r, double *v, size_t n) {
    for (size_t i = 0; v && i < n; i++) v[i] = mn_rng_uniform(r);
}

static void random_scores(const mn_hparams *hp, uint64_t seed, prune_scores *sc) {
    const size_t L = (size_t)hp->n_layers;
    mn_rng r;
    mn_rng_seed(&r, seed);
    fill_random(&r, sc->ffn, L * hp->ffn_dim);
    fill_random(&r, sc->heads, L * hp->n_heads);
    fill_random(&r, sc->groups, L * hp->n_kv_heads);
    fill_random(&r, sc->hidden, (size_t)hp->dim);
    fill_random(&r, sc->layers, L);
}

int prune_score(const mn_model *m, const mn_prune_options *opt, unsigned axes, const prune_stats *st,
                const double *layer_loss, prune_scores *sc) {
    if (alloc_scores(&m->hp, axes, sc) != 0) return -1;
    int rc = 0;
    switch (opt->importance) {
    case MN_PRUNE_ACTIVATION: rc = activation_scores(m, st, layer_loss, sc); break;
    case MN_PRUNE_MAGNITUDE: rc = magnitude_scores(m, sc); break;
    case MN_PRUNE_RANDOM: random_scores(&m->hp, opt->seed, sc); break;
    }
    if (rc != 0) prune_scores_free(sc);
    return rc;
}
