/* Unit tests for prune/: on tiny models built in memory, pruning structures that provably do
 * nothing (zero weights) leaves the logits unchanged, for every axis and for the fused and
 * biased layouts; GQA bookkeeping keeps groups uniform; the parameter count the planner predicts
 * is the one the pruned model has; bad requests fail with one clear line. */
#include "tests/unit/unit.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/rng.h"
#include "model/forward.h"
#include "prune/prune.h"
#include "prune/prune_internal.h"

#define EXPECT(cond, ...)                       \
    do {                                        \
        if (!(cond)) ck_abort_msg(__VA_ARGS__); \
    } while (0)

#define N_TOKENS 24
#define VOCAB 48

typedef struct {
    mn_arch arch;
    int dim, ffn, heads, kv, layers;
    bool tied;
    mn_dtype type;
} shape;

static void fill(mn_tensor *t, mn_rng *r, double mean, double std) {
    const int64_t n = mn_tensor_nelements(t);
    for (int64_t i = 0; i < n; i++) {
        float v = (float)(mean + std * mn_rng_normal(r));
        if (t->type == MN_F32) ((float *)t->data)[i] = v;
        else ((uint16_t *)t->data)[i] = mn_f32_to_f16(v);
    }
}

static void new_tensor(mn_model *m, mn_tensor *t, const char *name, mn_dtype type, int64_t ne0, int64_t ne1,
                       mn_rng *r, double mean, double std) {
    ck_assert_ptr_nonnull(mn_model_new_tensor(m, t, name, ne1 == 1 ? MN_F32 : type, ne0, ne1));
    fill(t, r, mean, std);
}

/* A model with random weights in the layout of its architecture. */
static mn_model *tiny_model(const shape *s, uint64_t seed) {
    mn_model *m = calloc(1, sizeof *m);
    ck_assert_ptr_nonnull(m);
    snprintf(m->path, sizeof m->path, "tiny-%s", mn_arch_name(s->arch));
    mn_hparams *hp = &m->hp;
    *hp = (mn_hparams){.arch = s->arch, .n_vocab = VOCAB, .dim = s->dim, .n_layers = s->layers, .n_heads = s->heads,
                       .n_kv_heads = s->kv, .head_dim = 8, .ffn_dim = s->ffn, .ctx_train = 64, .norm_eps = 1e-5f,
                       .rope_theta = 10000, .rope_layout = MN_ROPE_HALF, .tied_embeddings = s->tied};
    m->layers = calloc((size_t)s->layers, sizeof *m->layers);
    ck_assert_ptr_nonnull(m->layers);
    mn_rng r;
    mn_rng_seed(&r, seed);
    const int q = s->heads * 8, kv = s->kv * 8;
    new_tensor(m, &m->tok_embd, "token_embd", s->type, s->dim, VOCAB, &r, 0, 1.0);
    for (int l = 0; l < s->layers; l++) {
        mn_tensor *w = m->layers[l].w;
        new_tensor(m, &w[MN_W_ATTN_NORM], "attn_norm", s->type, s->dim, 1, &r, 1, 0.1);
        new_tensor(m, &w[MN_W_FFN_NORM], "ffn_norm", s->type, s->dim, 1, &r, 1, 0.1);
        if (s->arch == MN_ARCH_PHI3) {
            new_tensor(m, &w[MN_W_QKV], "qkv", s->type, s->dim, q + 2 * kv, &r, 0, 0.3);
            new_tensor(m, &w[MN_W_GATE_UP], "gate_up", s->type, s->dim, 2 * s->ffn, &r, 0, 0.3);
        } else {
            new_tensor(m, &w[MN_W_Q], "q", s->type, s->dim, q, &r, 0, 0.3);
            new_tensor(m, &w[MN_W_K], "k", s->type, s->dim, kv, &r, 0, 0.3);
            new_tensor(m, &w[MN_W_V], "v", s->type, s->dim, kv, &r, 0, 0.3);
            new_tensor(m, &w[MN_W_GATE], "gate", s->type, s->dim, s->ffn, &r, 0, 0.3);
            new_tensor(m, &w[MN_W_UP], "up", s->type, s->dim, s->ffn, &r, 0, 0.3);
        }
        if (s->arch == MN_ARCH_QWEN2) {
            new_tensor(m, &w[MN_W_BQ], "bq", s->type, q, 1, &r, 0, 0.2);
            new_tensor(m, &w[MN_W_BK], "bk", s->type, kv, 1, &r, 0, 0.2);
            new_tensor(m, &w[MN_W_BV], "bv", s->type, kv, 1, &r, 0, 0.2);
        }
        new_tensor(m, &w[MN_W_O], "o", s->type, q, s->dim, &r, 0, 0.2);
        new_tensor(m, &w[MN_W_DOWN], "down", s->type, s->ffn, s->dim, &r, 0, 0.2);
    }
    new_tensor(m, &m->output_norm, "output_norm", s->type, s->dim, 1, &r, 1, 0.1);
    if (s->tied) m->output = m->tok_embd;
    else new_tensor(m, &m->output, "output", s->type, s->dim, VOCAB, &r, 0, 0.3);
    return m;
}

/* Element setters that work for the f32 and f16 tensors tiny_model makes. */
static void set(mn_tensor *t, int64_t row, int64_t col, float v) {
    int64_t i = row * t->ne[0] + col;
    if (t->type == MN_F32) ((float *)t->data)[i] = v;
    else ((uint16_t *)t->data)[i] = mn_f32_to_f16(v);
}

static void zero_rows(mn_tensor *t, int64_t first, int64_t n) {
    for (int64_t r = first; r < first + n; r++)
        for (int64_t c = 0; c < t->ne[0]; c++) set(t, r, c, 0);
}

static void zero_cols(mn_tensor *t, int64_t first, int64_t n) {
    for (int64_t r = 0; r < mn_tensor_nrows(t); r++)
        for (int64_t c = first; c < first + n; c++) set(t, r, c, 0);
}

static mn_tokens calib_tokens(int n, uint64_t seed) {
    mn_tokens t = {malloc((size_t)n * sizeof(int32_t)), (size_t)n, (size_t)n};
    ck_assert_ptr_nonnull(t.ids);
    mn_rng r;
    mn_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) t.ids[i] = (int32_t)(mn_rng_next(&r) % VOCAB);
    return t;
}

static mn_prune_options options(const mn_tokens *calib, mn_prune_importance imp) {
    return (mn_prune_options){.importance = imp, .calib = calib, .calib_ctx = N_TOKENS, .seed = 7};
}

static float *logits_of(const mn_model *m, const mn_tokens *text) {
    mn_forward *f = mn_forward_new(m, N_TOKENS);
    ck_assert_ptr_nonnull(f);
    float *logits = malloc((size_t)N_TOKENS * VOCAB * sizeof(float));
    ck_assert_ptr_nonnull(logits);
    ck_assert_int_eq(mn_forward_logits(f, text->ids, N_TOKENS, 0, logits), 0);
    mn_forward_free(f);
    return logits;
}

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
    return worst;
}

/* Prunes and checks the logits did not move; returns the pruned model for further checks. */
static mn_model *prune_same_logits(const mn_model *src, const mn_prune_options *opt, double tol, const char *what) {
    mn_tokens text = calib_tokens(N_TOKENS, 99);
    mn_prune_report rep;
    mn_clear_error();
    mn_model *p = mn_prune(src, opt, &rep);
    EXPECT(p, "%s: %s", what, mn_last_error());
    float *a = logits_of(src, &text), *b = logits_of(p, &text);
    double d = max_abs_diff(a, b, (size_t)N_TOKENS * VOCAB);
    EXPECT(d <= tol, "%s: logits moved by %g", what, d);
    EXPECT(rep.total.params_after == mn_model_n_params(p), "%s: report says %llu params, model has %llu", what,
           (unsigned long long)rep.total.params_after, (unsigned long long)mn_model_n_params(p));
    free(a);
    free(b);
    mn_tokens_free(&text);
    mn_prune_report_free(&rep);
    return p;
}

static const shape llama_gqa = {MN_ARCH_LLAMA, 64, 128, 8, 2, 3, false, MN_F16};
static const shape qwen2_tied = {MN_ARCH_QWEN2, 64, 128, 4, 2, 2, true, MN_F32};
static const shape phi3_mha = {MN_ARCH_PHI3, 64, 128, 8, 8, 2, false, MN_F16};

/* ---------------------------------------------------------------- FFN */

/* Channels whose gate/up rows and down columns are zero contribute nothing; every importance
 * method ranks them last, and removing them leaves the model's function unchanged. */
static void zero_ffn_channels(mn_model *m) {
    for (int l = 0; l < m->hp.n_layers; l++) {
        mn_tensor *w = m->layers[l].w;
        for (int j = l % 2; j < m->hp.ffn_dim; j += 2) { /* a different half in each layer */
            if (w[MN_W_GATE_UP].data) {
                zero_rows(&w[MN_W_GATE_UP], j, 1);
                zero_rows(&w[MN_W_GATE_UP], m->hp.ffn_dim + j, 1);
            } else {
                zero_rows(&w[MN_W_GATE], j, 1);
                zero_rows(&w[MN_W_UP], j, 1);
            }
            zero_cols(&w[MN_W_DOWN], j, 1);
        }
    }
}

START_TEST(ffn_dead_channels_exact) {
    const shape *shapes[] = {&llama_gqa, &qwen2_tied, &phi3_mha};
    for (int s = 0; s < 3; s++)
        for (int imp = MN_PRUNE_ACTIVATION; imp <= MN_PRUNE_MAGNITUDE; imp++) {
            mn_model *m = tiny_model(shapes[s], 1);
            zero_ffn_channels(m);
            mn_tokens calib = calib_tokens(4 * N_TOKENS, 5);
            mn_prune_options opt = options(&calib, (mn_prune_importance)imp);
            opt.keep[MN_AXIS_FFN] = 0.5;
            char what[64];
            snprintf(what, sizeof what, "%s ffn 0.5 %s", mn_arch_name(shapes[s]->arch),
                     mn_prune_importance_name((mn_prune_importance)imp));
            mn_model *p = prune_same_logits(m, &opt, 1e-5, what);
            EXPECT(p->hp.ffn_dim == 64, "%s: ffn %d", what, p->hp.ffn_dim);
            mn_model_free(p);
            mn_tokens_free(&calib);
            mn_model_free(m);
        }
}
END_TEST

/* ---------------------------------------------------------------- heads */

/* A head whose query rows and output columns are zero writes nothing. */
static void kill_head(mn_model *m, int l, int h) {
    mn_tensor *w = m->layers[l].w;
    zero_rows(w[MN_W_QKV].data ? &w[MN_W_QKV] : &w[MN_W_Q], (int64_t)h * 8, 8);
    zero_cols(&w[MN_W_O], (int64_t)h * 8, 8);
    if (w[MN_W_BQ].data) zero_cols(&w[MN_W_BQ], (int64_t)h * 8, 8);
}

START_TEST(heads_dead_exact_and_grouped) {
    const shape *shapes[] = {&llama_gqa, &qwen2_tied};
    for (int s = 0; s < 2; s++)
        for (int imp = MN_PRUNE_ACTIVATION; imp <= MN_PRUNE_MAGNITUDE; imp++) {
            mn_model *m = tiny_model(shapes[s], 2);
            const int per = m->hp.n_heads / m->hp.n_kv_heads;
            /* half the heads of every group, a different half per layer */
            for (int l = 0; l < m->hp.n_layers; l++)
                for (int h = 0; h < m->hp.n_heads; h++)
                    if ((h % per) % 2 == l % 2) kill_head(m, l, h);
            mn_tokens calib = calib_tokens(4 * N_TOKENS, 6);
            mn_prune_options opt = options(&calib, (mn_prune_importance)imp);
            opt.keep[MN_AXIS_HEADS] = 0.5;
            mn_model *p = prune_same_logits(m, &opt, 1e-5, "heads 0.5");
            EXPECT(p->hp.n_heads == m->hp.n_heads / 2 && p->hp.n_kv_heads == m->hp.n_kv_heads, "heads %d kv %d",
                   p->hp.n_heads, p->hp.n_kv_heads);
            mn_model_free(p);
            mn_tokens_free(&calib);
            mn_model_free(m);
        }
}
END_TEST

START_TEST(kv_group_dead_exact) {
    mn_model *m = tiny_model(&llama_gqa, 3);
    /* group 1 of every layer: its K/V rows and all its query heads */
    for (int l = 0; l < m->hp.n_layers; l++) {
        zero_rows(&m->layers[l].w[MN_W_K], 8, 8);
        zero_rows(&m->layers[l].w[MN_W_V], 8, 8);
        for (int h = 4; h < 8; h++) kill_head(m, l, h);
    }
    mn_tokens calib = calib_tokens(4 * N_TOKENS, 7);
    for (int imp = MN_PRUNE_ACTIVATION; imp <= MN_PRUNE_MAGNITUDE; imp++) {
        mn_prune_options opt = options(&calib, (mn_prune_importance)imp);
        opt.keep[MN_AXIS_KV_GROUPS] = 0.5;
        mn_model *p = prune_same_logits(m, &opt, 1e-5, "kv groups 0.5");
        EXPECT(p->hp.n_heads == 4 && p->hp.n_kv_heads == 1, "heads %d kv %d", p->hp.n_heads, p->hp.n_kv_heads);
        mn_model_free(p);
    }
    mn_tokens_free(&calib);
    mn_model_free(m);
}
END_TEST

/* Kept heads come group by group, the same number from each, from inside their group. */
START_TEST(gqa_bookkeeping) {
    mn_model *m = tiny_model(&llama_gqa, 4);
    mn_tokens calib = calib_tokens(2 * N_TOKENS, 8);
    const double heads[] = {0.5, 0.25, 0.75, 0.25}, groups[] = {0, 0, 0, 0.5};
    const int want_heads[] = {4, 2, 6, 2}, want_kv[] = {2, 2, 2, 1};
    for (int c = 0; c < 4; c++) {
        mn_prune_options opt = options(&calib, MN_PRUNE_RANDOM);
        opt.keep[MN_AXIS_HEADS] = heads[c];
        opt.keep[MN_AXIS_KV_GROUPS] = groups[c];
        prune_dims d;
        ck_assert_int_eq(prune_plan_dims(m, &opt, &d), 0);
        EXPECT(d.n_heads == want_heads[c] && d.n_kv == want_kv[c], "case %d: %d heads %d groups", c, d.n_heads, d.n_kv);
        prune_scores sc;
        ck_assert_int_eq(prune_score(m, &opt, prune_dims_axes(&m->hp, &d), NULL, NULL, &sc), 0);
        prune_plan plan;
        ck_assert_int_eq(prune_plan_select(m, &d, &sc, NULL, &opt, &plan), 0);
        const int per_kept = d.n_heads / d.n_kv;
        for (int l = 0; l < d.n_layers; l++)
            for (int g = 0; g < d.n_kv; g++) {
                int group = plan.groups[l * d.n_kv + g];
                for (int i = 0; i < per_kept; i++) {
                    int h = plan.heads[l * d.n_heads + g * per_kept + i];
                    EXPECT(h / 4 == group, "case %d layer %d: head %d is not in group %d", c, l, h, group);
                    EXPECT(i == 0 || h > plan.heads[l * d.n_heads + g * per_kept + i - 1], "heads not ascending");
                }
            }
        uint64_t predicted = prune_count_params(m, &d);
        mn_model *p = prune_apply(m, &plan, 0);
        ck_assert_ptr_nonnull(p);
        EXPECT(mn_model_n_params(p) == predicted, "case %d: predicted %llu params, built %llu", c,
               (unsigned long long)predicted, (unsigned long long)mn_model_n_params(p));
        mn_model_free(p);
        prune_plan_free(&plan);
        prune_scores_free(&sc);
    }
    mn_tokens_free(&calib);
    mn_model_free(m);
}
END_TEST

/* phi3: llama.cpp wants heads x head_dim == hidden, so the two move together through the fused
 * qkv tensor. */
START_TEST(phi3_heads_follow_hidden) {
    mn_model *m = tiny_model(&phi3_mha, 5);
    mn_tokens calib = calib_tokens(2 * N_TOKENS, 9);
    mn_prune_options opt = options(&calib, MN_PRUNE_ACTIVATION);
    opt.keep[MN_AXIS_HIDDEN] = 0.5;
    opt.align = 32;
    mn_prune_report rep;
    mn_model *p = mn_prune(m, &opt, &rep);
    EXPECT(p, "%s", mn_last_error());
    EXPECT(p->hp.dim == 32 && p->hp.n_heads == 4 && p->hp.n_kv_heads == 4, "dim %d heads %d", p->hp.dim, p->hp.n_heads);
    EXPECT(p->layers[0].w[MN_W_QKV].ne[0] == 32 && mn_tensor_nrows(&p->layers[0].w[MN_W_QKV]) == 3 * 32,
           "qkv shape");
    EXPECT(mn_model_n_params(p) == rep.total.params_after, "params");
    mn_prune_report_free(&rep);
    mn_model_free(p);
    opt.keep[MN_AXIS_HEADS] = 0.25; /* 2 heads x 8 != 32 hidden channels */
    mn_clear_error();
    EXPECT(!mn_prune(m, &opt, &rep) && strstr(mn_last_error(), "heads x head_dim"), "%s", mn_last_error());
    mn_tokens_free(&calib);
    mn_model_free(m);

    /* qwen2 (GQA) too: the heads follow the hidden width, evenly over the groups */
    const shape qwen2_square = {MN_ARCH_QWEN2, 64, 128, 8, 2, 2, true, MN_F32};
    m = tiny_model(&qwen2_square, 6);
    opt = (mn_prune_options){.calib_ctx = N_TOKENS, .align = 32};
    prune_dims d;
    opt.keep[MN_AXIS_HIDDEN] = 0.5;
    ck_assert_int_eq(prune_plan_dims(m, &opt, &d), 0);
    EXPECT(d.dim == 32 && d.n_heads == 4 && d.n_kv == 2 && d.heads_follow_dim, "dim %d heads %d kv %d", d.dim,
           d.n_heads, d.n_kv);
    opt.keep[MN_AXIS_HIDDEN] = 0;
    opt.keep[MN_AXIS_KV_GROUPS] = 0.5; /* the hidden width follows the heads */
    ck_assert_int_eq(prune_plan_dims(m, &opt, &d), 0);
    EXPECT(d.dim == 32 && d.n_heads == 4 && d.n_kv == 1, "dim %d heads %d kv %d", d.dim, d.n_heads, d.n_kv);
    mn_model_free(m);
}
END_TEST

/* ---------------------------------------------------------------- hidden */

/* Hidden channels the embedding never writes and no block writes stay zero all the way: only the
 * RMSNorms see fewer channels, which the norm rescaling compensates exactly (up to epsilon). */
START_TEST(hidden_dead_channels_tied_exact) {
    const shape *shapes[] = {&qwen2_tied, &llama_gqa};
    for (int s = 0; s < 2; s++) {
        mn_model *m = tiny_model(shapes[s], 6);
        for (int i = 1; i < m->hp.dim; i += 2) {
            zero_cols(&m->tok_embd, i, 1);
            if (!m->hp.tied_embeddings) zero_cols(&m->output, i, 1);
            for (int l = 0; l < m->hp.n_layers; l++) {
                zero_rows(&m->layers[l].w[MN_W_O], i, 1);
                zero_rows(&m->layers[l].w[MN_W_DOWN], i, 1);
            }
        }
        mn_tokens calib = calib_tokens(4 * N_TOKENS, 10);
        mn_prune_options opt = options(&calib, MN_PRUNE_ACTIVATION);
        opt.keep[MN_AXIS_HIDDEN] = 0.5;
        mn_model *p = prune_same_logits(m, &opt, 2e-3, "hidden 0.5");
        EXPECT(p->hp.dim == 32, "dim %d", p->hp.dim);
        EXPECT(!m->hp.tied_embeddings || p->output.data == p->tok_embd.data, "tied output is not the embedding");
        EXPECT(p->tok_embd.ne[0] == 32 && p->output.ne[0] == 32, "embedding width");
        mn_model_free(p);
        mn_tokens_free(&calib);
        mn_model_free(m);
    }
}
END_TEST

/* ---------------------------------------------------------------- depth */

/* A block whose output projections are zero is the identity: block influence 0, dropped first. */
START_TEST(identity_layer_dropped_first) {
    mn_model *m = tiny_model(&llama_gqa, 7);
    zero_rows(&m->layers[1].w[MN_W_O], 0, m->hp.dim);
    zero_rows(&m->layers[1].w[MN_W_DOWN], 0, m->hp.dim);
    mn_tokens calib = calib_tokens(2 * N_TOKENS, 11);
    for (int metric = MN_PRUNE_LAYER_INFLUENCE; metric <= MN_PRUNE_LAYER_LOSS; metric++) {
        mn_prune_options opt = options(&calib, MN_PRUNE_ACTIVATION);
        opt.layer_metric = (mn_prune_layer_metric)metric;
        opt.drop_layers = 1;
        mn_tokens text = calib_tokens(N_TOKENS, 99);
        mn_prune_report rep;
        mn_model *p = mn_prune(m, &opt, &rep);
        EXPECT(p, "%s", mn_last_error());
        EXPECT(p->hp.n_layers == 2 && rep.kept_layers[0] == 0 && rep.kept_layers[1] == 2, "kept %d %d",
               rep.kept_layers[0], rep.kept_layers[1]);
        EXPECT(rep.layer_scores && fabs(rep.layer_scores[1]) < 1e-9, "score of the identity layer %g",
               rep.layer_scores ? rep.layer_scores[1] : -1);
        float *a = logits_of(m, &text), *b = logits_of(p, &text);
        EXPECT(max_abs_diff(a, b, (size_t)N_TOKENS * VOCAB) < 1e-5, "logits moved");
        free(a);
        free(b);
        mn_tokens_free(&text);
        mn_prune_report_free(&rep);
        mn_model_free(p);
    }
    const int keep[] = {2, 0};
    mn_prune_options opt = options(&calib, MN_PRUNE_ACTIVATION);
    opt.layers_keep = keep;
    opt.n_layers_keep = 2;
    mn_prune_report rep;
    mn_model *p = mn_prune(m, &opt, &rep);
    EXPECT(p && rep.kept_layers[0] == 0 && rep.kept_layers[1] == 2, "explicit list not kept in order");
    mn_prune_report_free(&rep);
    mn_model_free(p);
    mn_tokens_free(&calib);
    mn_model_free(m);
}
END_TEST

/* ---------------------------------------------------------------- planning */

START_TEST(target_params_fits_budget) {
    mn_model *m = tiny_model(&llama_gqa, 8);
    mn_tokens calib = calib_tokens(2 * N_TOKENS, 12);
    const uint64_t full = mn_model_n_params(m);
    const double budgets[] = {0.9, 0.7, 0.5, (double)full * 0.8};
    for (int b = 0; b < 4; b++) {
        mn_prune_options opt = options(&calib, MN_PRUNE_MAGNITUDE);
        opt.target_params = budgets[b];
        opt.align = 32;
        mn_prune_report rep;
        mn_model *p = mn_prune(m, &opt, &rep);
        EXPECT(p, "budget %g: %s", budgets[b], mn_last_error());
        double want = budgets[b] <= 1 ? budgets[b] * full : budgets[b];
        EXPECT(rep.target_params == want && mn_model_n_params(p) <= want, "budget %g: %llu params", want,
               (unsigned long long)mn_model_n_params(p));
        EXPECT(mn_model_n_params(p) >= 0.8 * want, "budget %g: only %llu params", want,
               (unsigned long long)mn_model_n_params(p));
        mn_prune_report_free(&rep);
        mn_model_free(p);
    }
    mn_prune_options opt = options(&calib, MN_PRUNE_MAGNITUDE);
    opt.target_params = 0.01; /* below the embeddings alone */
    mn_prune_report rep;
    mn_clear_error();
    EXPECT(!mn_prune(m, &opt, &rep) && strstr(mn_last_error(), "cannot reach"), "%s", mn_last_error());
    mn_tokens_free(&calib);
    mn_model_free(m);
}
END_TEST

START_TEST(widths_align) {
    mn_model *m = tiny_model(&llama_gqa, 9);
    mn_tokens calib = calib_tokens(2 * N_TOKENS, 13);
    mn_prune_options opt = options(&calib, MN_PRUNE_RANDOM);
    prune_dims d;
    opt.keep[MN_AXIS_FFN] = 0.6; /* 76.8 -> 64 (multiples of 32: 256 is out of reach) */
    ck_assert_int_eq(prune_plan_dims(m, &opt, &d), 0);
    EXPECT(d.ffn == 64 && d.ffn_align == 32 && d.ffn_coarse, "ffn %d align %d", d.ffn, d.ffn_align);
    m->hp.ffn_dim = 2048; /* only the sizes matter to the planner */
    opt.keep[MN_AXIS_FFN] = 0.55; /* 1126 -> 1024: a multiple of 256 within an eighth */
    ck_assert_int_eq(prune_plan_dims(m, &opt, &d), 0);
    EXPECT(d.ffn == 1024 && d.ffn_align == 256 && !d.ffn_coarse, "ffn %d align %d", d.ffn, d.ffn_align);
    m->hp.ffn_dim = 128;
    mn_tokens_free(&calib);
    mn_model_free(m);
}
END_TEST

START_TEST(random_is_seeded) {
    mn_model *m = tiny_model(&llama_gqa, 10);
    mn_tokens calib = calib_tokens(2 * N_TOKENS, 14);
    int kept[3][64];
    const uint64_t seeds[3] = {7, 7, 8};
    for (int i = 0; i < 3; i++) {
        mn_prune_options opt = options(&calib, MN_PRUNE_RANDOM);
        opt.seed = seeds[i];
        opt.keep[MN_AXIS_FFN] = 0.5;
        prune_dims d;
        prune_scores sc;
        prune_plan plan;
        ck_assert_int_eq(prune_plan_dims(m, &opt, &d), 0);
        ck_assert_int_eq(prune_score(m, &opt, prune_dims_axes(&m->hp, &d), NULL, NULL, &sc), 0);
        ck_assert_int_eq(prune_plan_select(m, &d, &sc, NULL, &opt, &plan), 0);
        memcpy(kept[i], plan.ffn, sizeof kept[i]);
        prune_plan_free(&plan);
        prune_scores_free(&sc);
    }
    EXPECT(!memcmp(kept[0], kept[1], sizeof kept[0]), "same seed, different channels");
    EXPECT(memcmp(kept[0], kept[2], sizeof kept[0]), "different seeds, same channels");
    mn_tokens_free(&calib);
    mn_model_free(m);
}
END_TEST

START_TEST(bad_requests) {
    mn_model *m = tiny_model(&llama_gqa, 11);
    mn_tokens calib = calib_tokens(2 * N_TOKENS, 15), short_text = calib_tokens(N_TOKENS - 1, 16);
    static const struct {
        int axis;
        double keep;
        const char *message;
    } cases[] = {
        {MN_AXIS_FFN, 1.5, "outside (0, 1]"},       {MN_AXIS_HIDDEN, -0.5, "outside (0, 1]"},
        {MN_AXIS_FFN, 0.01, "rounds to zero"},      {MN_AXIS_HEADS, 0.01, "rounds to zero"},
        {MN_AXIS_HEADS, 0.625, "divide evenly"},    {MN_AXIS_KV_GROUPS, 0.1, "rounds to zero"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mn_prune_options opt = options(&calib, MN_PRUNE_ACTIVATION);
        opt.keep[cases[c].axis] = cases[c].keep;
        mn_prune_report rep;
        mn_clear_error();
        EXPECT(!mn_prune(m, &opt, &rep), "case %zu accepted", c);
        EXPECT(strstr(mn_last_error(), cases[c].message), "case %zu: '%s'", c, mn_last_error());
    }
    mn_prune_options opt = options(&short_text, MN_PRUNE_ACTIVATION);
    opt.keep[MN_AXIS_FFN] = 0.5;
    mn_prune_report rep;
    mn_clear_error();
    EXPECT(!mn_prune(m, &opt, &rep) && strstr(mn_last_error(), "too short"), "%s", mn_last_error());
    opt = options(&calib, MN_PRUNE_ACTIVATION);
    opt.drop_layers = 3;
    mn_clear_error();
    EXPECT(!mn_prune(m, &opt, &rep) && strstr(mn_last_error(), "at least one"), "%s", mn_last_error());
    const int dup[] = {0, 0};
    opt = options(&calib, MN_PRUNE_ACTIVATION);
    opt.layers_keep = dup;
    opt.n_layers_keep = 2;
    mn_clear_error();
    EXPECT(!mn_prune(m, &opt, &rep) && strstr(mn_last_error(), "twice"), "%s", mn_last_error());
    unsigned axes;
    EXPECT(mn_prune_parse_axes("ffn,kv-groups", &axes) == 0 &&
               axes == ((1u << MN_AXIS_FFN) | (1u << MN_AXIS_KV_GROUPS)), "axes parse");
    mn_clear_error();
    EXPECT(mn_prune_parse_axes("ffn,depth", &axes) != 0 && strstr(mn_last_error(), "depth"), "%s", mn_last_error());
    mn_tokens_free(&calib);
    mn_tokens_free(&short_text);
    mn_model_free(m);
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("prune");
    TCase *t = tcase_create("prune");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, ffn_dead_channels_exact);
    tcase_add_test(t, heads_dead_exact_and_grouped);
    tcase_add_test(t, kv_group_dead_exact);
    tcase_add_test(t, gqa_bookkeeping);
    tcase_add_test(t, phi3_heads_follow_hidden);
    tcase_add_test(t, hidden_dead_channels_tied_exact);
    tcase_add_test(t, identity_layer_dropped_first);
    tcase_add_test(t, target_params_fits_budget);
    tcase_add_test(t, widths_align);
    tcase_add_test(t, random_is_seeded);
    tcase_add_test(t, bad_requests);
    suite_add_tcase(s, t);
    return s;
}

MN_UNIT_MAIN
