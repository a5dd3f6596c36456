/* The pruning run: check the request and size the result first (so bad input fails before any
 * work), measure perplexity, calibrate, score, select, build, measure again, report. */
#include "prune/prune.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/error.h"
#include "core/usage.h"
#include "eval/perplexity.h"
#include "prune/prune_internal.h"

const char *mn_prune_part_name(mn_prune_part_id part) {
    static const char *const names[MN_PART_COUNT] = {"embeddings", "attention", "ffn", "norms"};
    return names[part];
}

const char *mn_prune_importance_name(mn_prune_importance imp) {
    switch (imp) {
    case MN_PRUNE_ACTIVATION: return "activation";
    case MN_PRUNE_MAGNITUDE: return "magnitude";
    case MN_PRUNE_RANDOM: return "random";
    }
    return "?";
}

void prune_release(const mn_model *m, const mn_tensor *t) {
    /* only a loaded model's tensors are read-only file mappings; a derived model's own buffers
     * would be zeroed */
    if (!m->backing || !t->data || t->nbytes == 0) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = ((uintptr_t)t->data + page - 1) & ~(page - 1);
    uintptr_t end = ((uintptr_t)t->data + t->nbytes) & ~(page - 1);
    if (end > start) madvise((void *)start, end - start, MADV_DONTNEED);
}

void prune_release_layer(const mn_model *m, int layer) {
    for (int r = 0; r < MN_W_COUNT; r++) prune_release(m, &m->layers[layer].w[r]);
}

void prune_release_model(const mn_model *m) {
    prune_release(m, &m->tok_embd);
    prune_release(m, &m->output);
    for (int l = 0; l < m->hp.n_layers; l++) prune_release_layer(m, l);
}

void mn_prune_report_free(mn_prune_report *r) {
    free(r->kept_layers);
    free(r->layer_scores);
    r->kept_layers = NULL;
    r->layer_scores = NULL;
}

static void note(mn_prune_report *r, const char *fmt, ...) MN_PRINTF(2, 3);
static void note(mn_prune_report *r, const char *fmt, ...) {
    if (r->n_notes >= MN_PRUNE_MAX_NOTES) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->notes[r->n_notes++], sizeof r->notes[0], fmt, ap);
    va_end(ap);
}

static mn_prune_part_id part_of(mn_weight_role role) {
    switch (role) {
    case MN_W_TOKEN_EMBD:
    case MN_W_OUTPUT: return MN_PART_EMBEDDINGS;
    case MN_W_Q:
    case MN_W_K:
    case MN_W_V:
    case MN_W_QKV:
    case MN_W_O:
    case MN_W_BQ:
    case MN_W_BK:
    case MN_W_BV: return MN_PART_ATTENTION;
    case MN_W_GATE:
    case MN_W_UP:
    case MN_W_GATE_UP:
    case MN_W_DOWN: return MN_PART_FFN;
    default: return MN_PART_NORMS;
    }
}

typedef struct {
    mn_prune_report *r;
    int after;
} part_visit;

static int count_part(void *ctx, const char *name, const mn_tensor *t, int layer, mn_weight_role role) {
    part_visit *v = ctx;
    mn_prune_part *p = &v->r->part[part_of(role)];
    uint64_t n = (uint64_t)mn_tensor_nelements(t);
    if (v->after) {
        p->params_after += n;
        p->bytes_after += 2 * n; /* written as f16 */
    } else {
        p->params_before += n;
        p->bytes_before += t->nbytes;
    }
    return 0;
}

static void count_parts(mn_prune_report *r, const mn_model *m, int after) {
    part_visit v = {r, after};
    mn_model_for_each_tensor(m, count_part, &v);
    if (!after) return;
    memset(&r->total, 0, sizeof r->total);
    for (int i = 0; i < MN_PART_COUNT; i++) {
        r->total.params_before += r->part[i].params_before;
        r->total.params_after += r->part[i].params_after;
        r->total.bytes_before += r->part[i].bytes_before;
        r->total.bytes_after += r->part[i].bytes_after;
    }
}

static int perplexity(const mn_model *m, const mn_prune_options *opt, double *ppl, int *chunks) {
    mn_ppl_options po = {.ctx = opt->eval_ctx, .n_chunks = opt->eval_chunks, .progress = opt->progress};
    mn_ppl_result res;
    if (mn_perplexity(m, opt->eval, opt->eval_name ? opt->eval_name : "evaluation text", &po, &res) != 0) return -1;
    *ppl = res.ppl;
    *chunks = res.chunks;
    return 0;
}

static void describe_dims(mn_prune_report *r, const mn_model *m, const prune_dims *d) {
    const mn_hparams *hp = &m->hp;
    const int before[MN_AXIS_COUNT] = {hp->ffn_dim, hp->n_heads, hp->n_kv_heads, hp->dim, hp->n_layers};
    const int after[MN_AXIS_COUNT] = {d->ffn, d->n_heads, d->n_kv, d->dim, d->n_layers};
    for (int a = 0; a < MN_AXIS_COUNT; a++) r->axis[a] = (mn_prune_axis){before[a], after[a], 0};
    r->axis[MN_AXIS_FFN].align = d->ffn_align;
    r->axis[MN_AXIS_HIDDEN].align = d->dim_align;
    if (d->ffn_coarse)
        note(r, "ffn: %d is not close to a multiple of 256, so the width is a multiple of %d; K-quant GGUF types "
                "(q4_k, q6_k) need 256, q4_0/q8_0 need 32", d->ffn, d->ffn_align);
    if (d->dim_coarse)
        note(r, "hidden: %d is not close to a multiple of 256, so the width is a multiple of %d; K-quant GGUF "
                "types need 256, q4_0/q8_0 need 32", d->dim, d->dim_align);
    if (d->heads_follow_dim)
        note(r, "%s: heads and hidden width move together (llama.cpp needs heads x head_dim = hidden): %d heads, "
                "%d channels", mn_arch_name(hp->arch), d->n_heads, d->dim);
    if ((d->n_heads != hp->n_heads || d->dim != hp->dim) && ((int64_t)d->n_heads * hp->head_dim) % 256)
        note(r, "attention output rows are %d wide, not a multiple of 256: llama.cpp quantizes that tensor with a "
                "fallback type", d->n_heads * hp->head_dim);
}

typedef struct {
    prune_dims dims;
    prune_stats stats;
    double *layer_loss;
    prune_scores scores;
    prune_plan plan;
} run_state;

static void run_state_free(run_state *s) {
    prune_stats_free(&s->stats);
    free(s->layer_loss);
    prune_scores_free(&s->scores);
    prune_plan_free(&s->plan);
}

/* Calibration feeds activation importance and, when hidden channels go, the RMSNorm factors. */
static int measure(const mn_model *src, const mn_prune_options *opt, unsigned axes, run_state *s,
                   mn_prune_report *r) {
    const bool activation = opt->importance == MN_PRUNE_ACTIVATION;
    const bool rank_layers = (axes & (1u << MN_AXIS_LAYERS)) && activation;
    const bool loss = rank_layers && opt->layer_metric == MN_PRUNE_LAYER_LOSS;
    if ((activation && (axes & ~(1u << MN_AXIS_LAYERS))) || (rank_layers && !loss) || (axes & (1u << MN_AXIS_HIDDEN))) {
        if (prune_calibrate(src, opt, &s->stats) != 0) return -1;
        r->calib_tokens = s->stats.tokens;
        r->calib_sequences = s->stats.sequences;
    }
    if (loss) {
        if (!(s->layer_loss = malloc((size_t)(src->hp.n_layers + 1) * sizeof(double))))
            return mn_fail("out of memory for layer losses");
        if (prune_layer_loss(src, opt, s->layer_loss) != 0) return -1;
        r->calib_sequences = prune_calib_sequences(opt);
        r->calib_tokens = r->calib_sequences * opt->calib_ctx;
    }
    return prune_score(src, opt, axes, s->stats.ffn ? &s->stats : NULL, s->layer_loss, &s->scores);
}

mn_model *mn_prune(const mn_model *src, const mn_prune_options *opt, mn_prune_report *r) {
    const double start = mn_now();
    memset(r, 0, sizeof *r);
    run_state s;
    memset(&s, 0, sizeof s);
    mn_model *out = NULL;
    if (prune_plan_dims(src, opt, &s.dims) != 0) return NULL;
    const unsigned axes = prune_dims_axes(&src->hp, &s.dims);
    describe_dims(r, src, &s.dims);
    if (opt->target_params > 0)
        r->target_params = opt->target_params <= 1 ? opt->target_params * (double)mn_model_n_params(src)
                                                   : opt->target_params;
    if (!axes) note(r, "nothing to prune: every kept size equals the model's");
    count_parts(r, src, 0);
    if (prune_calib_sequences(opt) < 0) goto done;
    if (opt->eval) {
        r->eval_ctx = opt->eval_ctx;
        if (perplexity(src, opt, &r->ppl_before, &r->eval_chunks) != 0) goto done;
        prune_release_model(src);
    }
    if (measure(src, opt, axes, &s, r) != 0) goto done;
    if (prune_plan_select(src, &s.dims, &s.scores, s.stats.ffn ? &s.stats : NULL, opt, &s.plan) != 0) goto done;
    r->kept_layers = malloc((size_t)s.dims.n_layers * sizeof *r->kept_layers);
    if (!r->kept_layers) {
        mn_fail("out of memory");
        goto done;
    }
    memcpy(r->kept_layers, s.plan.layers, (size_t)s.dims.n_layers * sizeof *r->kept_layers);
    if (s.scores.layers) {
        r->layer_scores = s.scores.layers;
        s.scores.layers = NULL;
    }
    out = prune_apply(src, &s.plan, opt->progress);
    if (!out) goto done;
    count_parts(r, out, 1);
    if (opt->eval && perplexity(out, opt, &r->ppl_after, &r->eval_chunks) != 0) {
        mn_model_free(out);
        out = NULL;
    }
done:
    run_state_free(&s);
    if (!out) mn_prune_report_free(r);
    r->seconds = mn_now() - start;
    return out;
}
