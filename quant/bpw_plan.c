/* Mixed precision under a size budget (--bpw): measure how much each weight tensor alone
 * moves the model's output distribution (KL divergence from the unquantized model on
 * calibration text) at each candidate type, then spend the budget greedily on the upgrades
 * that buy the most divergence per byte. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/progress.h"
#include "model/forward.h"
#include "model/matmul.h"
#include "model/ops.h"
#include "quant/block_quantize.h"
#include "quant/quant_internal.h"

/* Chunks of calibration text the sensitivities are measured on, and positions scored in each:
 * the output layer dominates a probe's cost, and every probe is compared on the same
 * positions, so a few per chunk suffice. */
#define SENSITIVITY_CHUNKS 4
#define SENSITIVITY_ROWS 64
/* Reference log-probs kept in memory are capped at this many floats. */
#define REF_FLOATS (64u << 20)
/* Measuring every candidate type of every tensor is allowed up to this many passes over all
 * layers of the sensitivity chunks; beyond it only the floor type is measured and the rest
 * estimated from each tensor's own weighted rounding error. */
#define MAX_FULL_PASSES 60

#define MAX_LADDER 6

typedef struct {
    mn_weight_role role;
    int layer; /* -1: token_embd / output */
    const mn_tensor *t;
    int n_types;
    mn_dtype types[MAX_LADDER];
    double kld[MAX_LADDER];
    uint64_t bytes[MAX_LADDER];
    int choice;
} unit;

typedef struct {
    const mn_model *m;
    const mn_act_stats *stats;
    bool use_importance;
    int n_chunks, ctx, first, rows; /* scored rows per chunk */
    const int32_t *ids;
    float *hidden;   /* (n_layers + 1) × n_chunks × ctx × dim: input of each layer, then the final state */
    float *ref_logp; /* n_chunks × rows × n_vocab */
    float *x, *logits;
} probe;

static const mn_dtype k_family[] = {MN_Q2_K, MN_Q3_K, MN_Q4_K, MN_Q5_K, MN_Q6_K, MN_Q8_0};
static const mn_dtype legacy_family[] = {MN_Q4_0, MN_Q4_1, MN_Q5_0, MN_Q5_1, MN_Q8_0};

static void build_ladder(unit *u, mn_dtype floor) {
    const mn_dtype *fam = k_family;
    int n = 6;
    for (int i = 0; i < 5; i++)
        if (legacy_family[i] == floor) fam = legacy_family, n = 5;
    int start = 0;
    while (start < n && fam[start] != floor) start++;
    u->n_types = 0;
    for (int i = start; i < n; i++) {
        mn_dtype t = mn_recipe_fallback(fam[i], u->t->ne[0]);
        if (u->n_types == 0 || u->types[u->n_types - 1] != t) u->types[u->n_types++] = t;
    }
    for (int i = 0; i < u->n_types; i++)
        u->bytes[i] = mn_dtype_row_bytes(u->types[i], u->t->ne[0]) * (uint64_t)mn_tensor_nrows(u->t);
}

static size_t state_floats(const probe *p) { return (size_t)p->n_chunks * p->ctx * p->m->hp.dim; }

/* Mean KL divergence of the logits in p->logits (one chunk's scored rows) from the reference. */
static double chunk_divergence(const probe *p, int c) {
    const int v = p->m->hp.n_vocab;
    double total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static)
    for (int r = 0; r < p->rows; r++) {
        const float *row = p->logits + (size_t)r * v;
        total += mn_kl_row(p->ref_logp + ((size_t)c * p->rows + r) * v, row, mn_log_sum_exp(row, v), v);
    }
    return total / p->rows;
}

/* Runs the model from layer `from` (its input taken from the cached states, or the embedding
 * when from < 0) with `layer_w` standing in for layer `from`'s weights; `m` supplies the rest. */
static int divergence_from(probe *p, const mn_model *m, int from, const mn_layer *layer_w, double *kld) {
    const mn_hparams *hp = &m->hp;
    mn_forward *f = mn_forward_new(m, p->ctx);
    if (!f) return -1;
    const size_t chunk = (size_t)p->ctx * hp->dim;
    const int first = p->ctx - 1 - p->rows;
    double total = 0;
    int rc = 0;
    for (int c = 0; c < p->n_chunks && rc == 0; c++) {
        int start = from < 0 ? 0 : from;
        if (from < 0) rc = mn_forward_embed(f, p->ids + (size_t)c * p->ctx, p->ctx, p->x);
        else memcpy(p->x, p->hidden + (size_t)from * state_floats(p) + c * chunk, chunk * sizeof(float));
        for (int l = start; l < hp->n_layers && rc == 0; l++)
            rc = mn_forward_block(f, l == from && layer_w ? layer_w : &m->layers[l], l, p->x, p->ctx);
        /* rows first .. ctx-2 are scored; the head also yields ctx-1, which is ignored */
        if (rc == 0) rc = mn_forward_head(f, p->x, p->ctx, first, p->logits);
        if (rc == 0) total += chunk_divergence(p, c);
    }
    mn_forward_free(f);
    *kld = total / p->n_chunks;
    return rc;
}

static int quantized_view(const probe *p, const unit *u, mn_dtype type, mn_tensor *out, void **buf) {
    const int64_t cols = u->t->ne[0], rows = mn_tensor_nrows(u->t);
    float *w = malloc((size_t)(rows * cols) * sizeof(float));
    *buf = malloc(mn_dtype_row_bytes(type, cols) * (size_t)rows);
    float *importance = NULL;
    int rc = w && *buf ? 0 : mn_fail("out of memory");
    if (rc == 0 && p->use_importance && (mn_input_group_of(u->role) >= 0 || u->role == MN_W_OUTPUT ||
                                         (u->role == MN_W_TOKEN_EMBD && p->m->hp.tied_embeddings))) {
        importance = malloc((size_t)cols * sizeof(float));
        if (importance) mn_act_stats_importance(p->stats, u->role == MN_W_TOKEN_EMBD ? MN_W_OUTPUT : u->role, u->layer, importance);
    }
    if (rc == 0) {
        mn_tensor_rows_to_f32(u->t, 0, rows, w);
        rc = mn_quantize_rows(type, w, *buf, rows, cols, importance);
    }
    *out = *u->t;
    out->type = type;
    out->data = *buf;
    out->nbytes = mn_dtype_row_bytes(type, cols) * (size_t)rows;
    free(w);
    free(importance);
    return rc;
}

/* The weighted squared rounding error of a tensor at a type: the expected squared error of its
 * output, used to extrapolate measured divergences to unmeasured types. */
static double rounding_error(const probe *p, const unit *u, mn_dtype type) {
    mn_tensor q;
    void *buf;
    double total = -1;
    if (quantized_view(p, u, type, &q, &buf) == 0) {
        const int64_t cols = u->t->ne[0], rows = mn_tensor_nrows(u->t);
        float *a = malloc((size_t)cols * sizeof(float)), *b = malloc((size_t)cols * sizeof(float));
        float *imp = malloc((size_t)cols * sizeof(float));
        if (a && b && imp) {
            for (int64_t c = 0; c < cols; c++) imp[c] = 1;
            if (p->use_importance && mn_input_group_of(u->role) >= 0) mn_act_stats_importance(p->stats, u->role, u->layer, imp);
            total = 0;
            for (int64_t r = 0; r < rows; r++) {
                mn_tensor_rows_to_f32(u->t, r, 1, a);
                mn_tensor_rows_to_f32(&q, r, 1, b);
                for (int64_t c = 0; c < cols; c++) total += (double)imp[c] * (a[c] - b[c]) * (a[c] - b[c]);
            }
        }
        free(a);
        free(b);
        free(imp);
    }
    free(buf);
    return total;
}

static int measure(probe *p, unit *u, int k) {
    mn_tensor q;
    void *buf;
    int rc = quantized_view(p, u, u->types[k], &q, &buf);
    if (rc == 0) {
        if (u->layer >= 0) {
            mn_layer w = p->m->layers[u->layer];
            w.w[u->role] = q;
            rc = divergence_from(p, p->m, u->layer, &w, &u->kld[k]);
        } else {
            mn_model copy = *p->m;
            if (u->role == MN_W_OUTPUT || p->m->hp.tied_embeddings) copy.output = q;
            if (u->role == MN_W_TOKEN_EMBD) copy.tok_embd = q;
            rc = divergence_from(p, &copy, u->role == MN_W_OUTPUT ? p->m->hp.n_layers : -1, NULL, &u->kld[k]);
        }
    }
    free(buf);
    return rc;
}

static int prepare_probe(probe *p, const mn_model *m, const mn_calib_text *calib) {
    const mn_hparams *hp = &m->hp;
    p->m = m;
    p->ctx = calib->ctx;
    p->n_chunks = calib->n_chunks < SENSITIVITY_CHUNKS ? calib->n_chunks : SENSITIVITY_CHUNKS;
    p->first = p->ctx / 2;
    p->rows = p->ctx - 1 - p->first;
    if (p->rows > SENSITIVITY_ROWS) p->rows = SENSITIVITY_ROWS;
    if ((size_t)p->n_chunks * p->rows * hp->n_vocab > REF_FLOATS)
        p->rows = (int)(REF_FLOATS / ((size_t)p->n_chunks * hp->n_vocab));
    if (p->rows < 1) p->rows = 1;
    p->ids = calib->ids;
    p->hidden = malloc((size_t)(hp->n_layers + 1) * state_floats(p) * sizeof(float));
    p->ref_logp = malloc((size_t)p->n_chunks * p->rows * hp->n_vocab * sizeof(float));
    p->x = malloc((size_t)p->ctx * hp->dim * sizeof(float));
    p->logits = malloc((size_t)(p->rows + 1) * hp->n_vocab * sizeof(float));
    mn_forward *f = mn_forward_new(m, p->ctx);
    int rc = p->hidden && p->ref_logp && p->x && p->logits && f ? 0 : mn_fail("out of memory for sensitivities");
    const size_t chunk = (size_t)p->ctx * hp->dim;
    for (int c = 0; c < p->n_chunks && rc == 0; c++) {
        rc = mn_forward_embed(f, p->ids + (size_t)c * p->ctx, p->ctx, p->x);
        for (int l = 0; l <= hp->n_layers && rc == 0; l++) {
            memcpy(p->hidden + (size_t)l * state_floats(p) + c * chunk, p->x, chunk * sizeof(float));
            if (l < hp->n_layers) rc = mn_forward_block(f, &m->layers[l], l, p->x, p->ctx);
        }
        if (rc == 0) rc = mn_forward_head(f, p->x, p->ctx, p->ctx - 1 - p->rows, p->logits);
        for (int r = 0; r < p->rows && rc == 0; r++) {
            const float *row = p->logits + (size_t)r * hp->n_vocab;
            float *out = p->ref_logp + ((size_t)c * p->rows + r) * hp->n_vocab;
            float lse = (float)mn_log_sum_exp(row, hp->n_vocab);
            for (int i = 0; i < hp->n_vocab; i++) out[i] = row[i] - lse;
        }
    }
    mn_forward_free(f);
    return rc;
}

static void free_probe(probe *p) {
    free(p->hidden);
    free(p->ref_logp);
    free(p->x);
    free(p->logits);
}

typedef struct {
    unit *units;
    int n;
    uint64_t fixed_bytes; /* 1-D tensors */
    uint64_t params;
} census;

static int count_units(void *ctx, const char *name, const mn_tensor *t, int layer, mn_weight_role role) {
    census *c = ctx;
    c->params += (uint64_t)mn_tensor_nelements(t);
    if (t->n_dims == 1 || mn_tensor_nrows(t) == 1) {
        c->fixed_bytes += (uint64_t)mn_tensor_nelements(t) * 4;
        return 0;
    }
    unit *u = &c->units[c->n++];
    memset(u, 0, sizeof *u);
    u->role = role;
    u->layer = layer;
    u->t = t;
    return 0;
}

int mn_bpw_plan(const mn_model *m, const mn_quant_options *opt, const mn_calib_text *calib, const mn_act_stats *stats,
                mn_type_plan *plan) {
    const mn_hparams *hp = &m->hp;
    census c = {0};
    c.units = calloc((size_t)hp->n_layers * MN_W_COUNT + 4, sizeof *c.units);
    if (!c.units) return mn_fail("out of memory");
    mn_model_for_each_tensor(m, count_units, &c);
    uint64_t budget = (uint64_t)(opt->bpw * (double)c.params / 8.0), floor_bytes = c.fixed_bytes;
    for (int i = 0; i < c.n; i++) {
        build_ladder(&c.units[i], opt->type.base);
        floor_bytes += c.units[i].bytes[0];
    }
    if (floor_bytes > budget) {
        free(c.units);
        return mn_fail("--bpw %.3f is below the smallest size %s allows (%.3f bits per weight); choose a lower -t",
                       opt->bpw, opt->type.name, 8.0 * (double)floor_bytes / (double)c.params);
    }
    probe p = {.stats = stats, .use_importance = stats && opt->method != MN_QM_RTN};
    int rc = prepare_probe(&p, m, calib);
    /* cost in layer passes: a tensor of layer l reruns layers l..end */
    double passes = 0;
    for (int i = 0; i < c.n; i++)
        passes += c.units[i].n_types * (double)(hp->n_layers - (c.units[i].layer < 0 ? 0 : c.units[i].layer)) / hp->n_layers;
    const bool measure_all = passes <= MAX_FULL_PASSES;
    int total = 0;
    for (int i = 0; i < c.n; i++) total += measure_all ? c.units[i].n_types : 1;
    mn_progress bar;
    mn_progress_begin(&bar, "sensitivity", (uint64_t)total, "probes");
    if (!opt->progress) bar.active = 0;
    int done = 0;
    for (int i = 0; i < c.n && rc == 0; i++) {
        unit *u = &c.units[i];
        for (int k = 0; k < (measure_all ? u->n_types : 1) && rc == 0; k++) {
            rc = measure(&p, u, k);
            mn_progress_update(&bar, (uint64_t)++done, u->t->name);
        }
        if (!measure_all && rc == 0) {
            double base = rounding_error(&p, u, u->types[0]);
            for (int k = 1; k < u->n_types; k++)
                u->kld[k] = base > 0 ? u->kld[0] * rounding_error(&p, u, u->types[k]) / base : 0;
        }
    }
    mn_progress_end(&bar);
    free_probe(&p);
    if (rc == 0) {
        /* greedy: the upgrade with the largest divergence saved per extra byte, while it fits */
        uint64_t used = floor_bytes;
        for (;;) {
            int best_u = -1, best_k = -1;
            double best_gain = 0;
            for (int i = 0; i < c.n; i++) {
                unit *u = &c.units[i];
                for (int k = u->choice + 1; k < u->n_types; k++) {
                    uint64_t extra = u->bytes[k] - u->bytes[u->choice];
                    double saved = u->kld[u->choice] - u->kld[k];
                    if (used + extra > budget || saved <= 0) continue;
                    if (saved / (double)extra > best_gain) best_gain = saved / (double)extra, best_u = i, best_k = k;
                }
            }
            if (best_u < 0) break;
            used += c.units[best_u].bytes[best_k] - c.units[best_u].bytes[c.units[best_u].choice];
            c.units[best_u].choice = best_k;
        }
        plan->chosen = calloc((size_t)(hp->n_layers + 1) * MN_W_COUNT, sizeof *plan->chosen);
        if (!plan->chosen) rc = mn_fail("out of memory");
        for (int i = 0; i < c.n && rc == 0; i++) {
            mn_weight_role role = c.units[i].role;
            if (role == MN_W_TOKEN_EMBD && hp->tied_embeddings) role = MN_W_OUTPUT;
            plan->chosen[mn_plan_slot(m, role, c.units[i].layer)] = c.units[i].types[c.units[i].choice];
        }
    }
    free(c.units);
    return rc;
}
