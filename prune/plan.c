/* From keep ratios to kept sizes (uniform across layers, aligned for GGUF block formats,
 * heads split evenly over KV groups), the --target-params search, and from importance scores
 * to the indices each layer keeps. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "prune/prune_internal.h"

/* K-quant super-blocks hold 256 values; the legacy block formats 32. */
#define ALIGN_KQUANT 256
#define ALIGN_BLOCK 32

static const char *const axis_names[MN_AXIS_COUNT] = {"ffn", "heads", "kv_groups", "hidden", "layers"};

const char *mn_prune_axis_name(mn_prune_axis_id axis) { return axis_names[axis]; }

int mn_prune_parse_axes(const char *list, unsigned *axes) {
    *axes = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        int found = -1;
        for (int a = 0; a < MN_AXIS_LAYERS; a++) {
            const char *name = axis_names[a];
            bool same = strlen(name) == len;
            for (size_t i = 0; same && i < len; i++) same = p[i] == name[i] || (p[i] == '-' && name[i] == '_');
            if (same) found = a;
        }
        if (found < 0)
            return mn_fail("unknown axis '%.*s' in '%s' (axes: ffn, heads, kv_groups, hidden)", (int)len, p, list);
        *axes |= 1u << found;
        p += len + (p[len] == ',');
    }
    return *axes ? 0 : mn_fail("no axes in '%s'", list);
}

/* llama.cpp creates phi3's and qwen2's q and output projections n_embd wide, so a pruned model
 * of those architectures must keep heads x head_dim equal to its hidden size (as the model did). */
static bool attention_spans_hidden(const mn_hparams *hp) {
    return (hp->arch == MN_ARCH_PHI3 || hp->arch == MN_ARCH_QWEN2) && hp->n_heads * hp->head_dim == hp->dim;
}

/* Width kept of `full` channels for a keep ratio: a multiple of 256 when that stays within an
 * eighth of the request (a K-quant super-block), else of 32; `align` > 0 forces the multiple. */
static int keep_width(const char *what, int full, double keep, int align, int *align_used, bool *coarse) {
    const double want = keep * full;
    *coarse = false;
    if (keep >= 1) {
        *align_used = 0;
        return full;
    }
    int a = align;
    if (a <= 0) {
        double k256 = floor(want / ALIGN_KQUANT + 0.5) * ALIGN_KQUANT;
        a = k256 > 0 && k256 <= full && fabs(k256 - want) <= want / 8 ? ALIGN_KQUANT : ALIGN_BLOCK;
        *coarse = a != ALIGN_KQUANT;
    }
    *align_used = a;
    int kept = (int)(floor(want / a + 0.5) * a);
    if (kept > full) kept = full;
    if (kept <= 0)
        return mn_fail("keeping %g of %d %s rounds to zero (widths are kept in multiples of %d)", keep, full, what, a);
    return kept;
}

static int check_ratio(const char *what, double keep) {
    if (keep == 0) return 0;
    if (!(keep > 0 && keep <= 1)) return mn_fail("%s keep ratio %g is outside (0, 1]", what, keep);
    return 0;
}

/* Sizes for keep ratios (0 = unchanged) that have already been range-checked. */
static int dims_for(const mn_hparams *hp, const mn_prune_options *opt, const double keep[MN_AXIS_LAYERS],
                    prune_dims *d) {
    memset(d, 0, sizeof *d);
    const double ffn = keep[MN_AXIS_FFN] > 0 ? keep[MN_AXIS_FFN] : 1;
    const double hidden = keep[MN_AXIS_HIDDEN] > 0 ? keep[MN_AXIS_HIDDEN] : 1;
    if ((d->ffn = keep_width("FFN channels", hp->ffn_dim, ffn, opt->align, &d->ffn_align, &d->ffn_coarse)) < 0 ||
        (d->dim = keep_width("hidden channels", hp->dim, hidden, opt->align, &d->dim_align, &d->dim_coarse)) < 0)
        return -1;

    const int H = hp->n_heads, G = hp->n_kv_heads, per_group = H / G, hd = hp->head_dim;
    const double kv_keep = keep[MN_AXIS_KV_GROUPS], heads_keep = keep[MN_AXIS_HEADS];
    d->n_kv = G;
    if (kv_keep > 0) d->n_kv = (int)floor(G * kv_keep + 0.5);
    if (kv_keep > 0 && d->n_kv == 0) return mn_fail("keeping %g of %d KV groups rounds to zero", kv_keep, G);
    d->n_heads = d->n_kv * per_group;
    if (heads_keep > 0) {
        int h = (int)floor(H * heads_keep + 0.5);
        if (h == 0) return mn_fail("keeping %g of %d attention heads rounds to zero", heads_keep, H);
        if (per_group == 1) { /* multi-head attention: every head is its own KV group */
            if (kv_keep > 0 && h != d->n_kv)
                return mn_fail("each of the %d heads has its own key/value head: give --heads or --kv-groups, "
                               "not different ratios for both", H);
            d->n_kv = h;
        } else if (h % d->n_kv) {
            return mn_fail("keeping %g of %d attention heads gives %d, which does not divide evenly over %d KV "
                           "groups (keep a multiple of %d)", heads_keep, H, h, d->n_kv, d->n_kv);
        } else if (h / d->n_kv > per_group) {
            return mn_fail("%d attention heads do not fit in %d KV groups of %d heads", h, d->n_kv, per_group);
        }
        d->n_heads = h;
    }

    if (attention_spans_hidden(hp) && (d->dim != hp->dim || d->n_heads != H)) {
        const char *arch = mn_arch_name(hp->arch);
        if (heads_keep <= 0 && kv_keep <= 0) { /* the heads follow the hidden width */
            const int h = d->dim / hd;
            if (d->dim % hd || (per_group > 1 && (h % G || h / G > per_group)))
                return mn_fail("%s needs attention heads x head_dim = hidden size, and %d hidden channels do not "
                               "make a whole number of heads (of %d) for each of %d KV groups", arch, d->dim, hd, G);
            d->n_heads = h;
            d->n_kv = per_group == 1 ? h : G;
        } else if (keep[MN_AXIS_HIDDEN] <= 0) { /* the hidden width follows the heads */
            d->dim = d->n_heads * hd;
            d->dim_align = hd;
            d->dim_coarse = false;
        } else if (d->dim != d->n_heads * hd) {
            return mn_fail("%s needs attention heads x head_dim = hidden size: %d heads x %d != %d hidden channels "
                           "(prune --heads and --hidden by the same ratio)", arch, d->n_heads, hd, d->dim);
        }
        d->heads_follow_dim = true;
    }

    d->n_layers = hp->n_layers;
    if (opt->drop_layers) d->n_layers = hp->n_layers - opt->drop_layers;
    if (opt->n_layers_keep) d->n_layers = opt->n_layers_keep;
    return 0;
}

static int check_layers(const mn_hparams *hp, const mn_prune_options *opt) {
    const int L = hp->n_layers;
    if (opt->drop_layers && opt->n_layers_keep) return mn_fail("give either layers to drop or layers to keep, not both");
    if (opt->drop_layers < 0 || opt->drop_layers >= L)
        return mn_fail("cannot drop %d of %d layers (at least one must stay)", opt->drop_layers, L);
    if (opt->n_layers_keep < 0 || opt->n_layers_keep > L)
        return mn_fail("%d layers to keep, but the model has %d", opt->n_layers_keep, L);
    for (int i = 0; i < opt->n_layers_keep; i++) {
        int l = opt->layers_keep[i];
        if (l < 0 || l >= L) return mn_fail("layer %d does not exist (the model has layers 0-%d)", l, L - 1);
        for (int j = 0; j < i; j++)
            if (opt->layers_keep[j] == l) return mn_fail("layer %d is listed twice", l);
    }
    return 0;
}

uint64_t prune_count_params(const mn_model *src, const prune_dims *d) {
    const mn_hparams *hp = &src->hp;
    const uint64_t D = (uint64_t)d->dim, hd = (uint64_t)hp->head_dim;
    const uint64_t q = (uint64_t)d->n_heads * hd, kv = (uint64_t)d->n_kv * hd;
    const bool biases = src->layers[0].w[MN_W_BQ].data != NULL;
    uint64_t layer = D * q + 2 * D * kv + q * D + 3 * D * (uint64_t)d->ffn + 2 * D;
    if (biases) layer += q + 2 * kv;
    uint64_t total = (uint64_t)hp->n_vocab * D * (hp->tied_embeddings ? 1 : 2) + D + (uint64_t)d->n_layers * layer;
    if (src->rope_freqs.data) total += (uint64_t)mn_tensor_nelements(&src->rope_freqs);
    return total;
}

unsigned prune_dims_axes(const mn_hparams *hp, const prune_dims *d) {
    unsigned axes = 0;
    if (d->ffn < hp->ffn_dim) axes |= 1u << MN_AXIS_FFN;
    if (d->n_heads < hp->n_heads) axes |= 1u << MN_AXIS_HEADS;
    if (d->n_kv < hp->n_kv_heads) axes |= 1u << MN_AXIS_KV_GROUPS;
    if (d->dim < hp->dim) axes |= 1u << MN_AXIS_HIDDEN;
    if (d->n_layers < hp->n_layers) axes |= 1u << MN_AXIS_LAYERS;
    return axes;
}

/* Distinct sizes one axis can take: the keep ratios (steps of 1/1000, largest first) at which
 * dims_for gives a new width or head count. */
typedef struct {
    double ratio[1000];
    int n;
} axis_choices;

static int axis_size(const prune_dims *d, int axis) {
    switch (axis) {
    case MN_AXIS_FFN: return d->ffn;
    case MN_AXIS_HEADS: return d->n_heads;
    case MN_AXIS_KV_GROUPS: return d->n_kv;
    default: return d->dim;
    }
}

static void list_choices(const mn_hparams *hp, const mn_prune_options *opt, const double keep[MN_AXIS_LAYERS],
                         int axis, axis_choices *c) {
    c->n = 0;
    int last = -1;
    for (int step = 1000; step >= 1; step--) {
        double trial[MN_AXIS_LAYERS];
        memcpy(trial, keep, sizeof trial);
        trial[axis] = step / 1000.0;
        prune_dims d;
        if (dims_for(hp, opt, trial, &d) != 0) {
            mn_clear_error(); /* sizes that round to nothing or split heads unevenly */
            continue;
        }
        if (axis_size(&d, axis) != last) c->ratio[c->n++] = trial[axis];
        last = axis_size(&d, axis);
    }
}

typedef struct {
    const mn_model *m;
    const mn_prune_options *opt;
    double budget;
    int axes[MN_AXIS_LAYERS], n_axes;
    axis_choices *choices;
    double trial[MN_AXIS_LAYERS], best[MN_AXIS_LAYERS];
    uint64_t best_params, smallest;
    double best_spread;
} target_walk;

/* Kept fractions of the free axes far apart (FFN at 30 % beside hidden at 90 %) put the whole cut
 * on one structure; Minitron prunes widths together, so near-equal sizes win among near-equal fits. */
static double keep_spread(const target_walk *w, const prune_dims *d) {
    const mn_hparams *hp = &w->m->hp;
    const int full[MN_AXIS_LAYERS] = {hp->ffn_dim, hp->n_heads, hp->n_kv_heads, hp->dim};
    double lo = 1, hi = 0;
    for (int i = 0; i < w->n_axes; i++) {
        double k = (double)axis_size(d, w->axes[i]) / full[w->axes[i]];
        lo = k < lo ? k : lo;
        hi = k > hi ? k : hi;
    }
    return hi - lo;
}

/* Fits within this fraction of the best fit count as equally good, and the most even one wins. */
#define TARGET_SLACK 0.02

static void walk_targets(target_walk *w, int depth) {
    if (depth < w->n_axes) {
        const axis_choices *c = &w->choices[depth];
        for (int i = 0; i < c->n; i++) {
            w->trial[w->axes[depth]] = c->ratio[i];
            walk_targets(w, depth + 1);
        }
        return;
    }
    prune_dims d;
    if (dims_for(&w->m->hp, w->opt, w->trial, &d) != 0) {
        mn_clear_error();
        return;
    }
    const uint64_t params = prune_count_params(w->m, &d);
    if (!w->smallest || params < w->smallest) w->smallest = params;
    if ((double)params > w->budget) return;
    const double spread = keep_spread(w, &d);
    const bool much_larger = params > w->best_params * (1 + TARGET_SLACK);
    const bool comparable = params >= w->best_params * (1 - TARGET_SLACK);
    if (much_larger || (comparable && (spread < w->best_spread || (spread == w->best_spread && params > w->best_params)))) {
        w->best_params = params;
        w->best_spread = spread;
        memcpy(w->best, w->trial, sizeof w->best);
    }
}

/* The keep ratios of the free axes whose model comes closest to the budget without passing it,
 * searched over every size each axis can take; sizes move in alignment steps, so one common
 * ratio would often land far below a budget another mix meets. */
static int target_search(const mn_model *m, const mn_prune_options *opt, double keep[MN_AXIS_LAYERS], prune_dims *d) {
    target_walk w = {.m = m, .opt = opt, .best_spread = 2};
    w.budget = opt->target_params <= 1 ? opt->target_params * (double)mn_model_n_params(m) : opt->target_params;
    unsigned free_axes = opt->target_axes ? opt->target_axes : (1u << MN_AXIS_FFN) | (1u << MN_AXIS_HIDDEN);
    for (int a = 0; a < MN_AXIS_LAYERS; a++)
        if (keep[a] <= 0 && (free_axes & (1u << a))) w.axes[w.n_axes++] = a;
    if (!w.n_axes) return mn_fail("--target-params has no axis left to shrink: every target axis has a keep ratio");
    axis_choices choices[MN_AXIS_LAYERS];
    w.choices = choices;
    memcpy(w.trial, keep, sizeof w.trial);
    for (int i = 0; i < w.n_axes; i++) list_choices(&m->hp, opt, keep, w.axes[i], &choices[i]);
    walk_targets(&w, 0);
    if (!w.best_params) {
        char names[64] = "";
        for (int i = 0; i < w.n_axes; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", *names ? ", " : "",
                     axis_names[w.axes[i]]);
        return mn_fail("cannot reach %.0f parameters by shrinking %s: the smallest model that allows has %llu",
                       w.budget, names, (unsigned long long)w.smallest);
    }
    memcpy(keep, w.best, sizeof w.best);
    return dims_for(&m->hp, opt, keep, d);
}

int prune_plan_dims(const mn_model *m, const mn_prune_options *opt, prune_dims *d) {
    static const char *const what[MN_AXIS_LAYERS] = {"FFN", "heads", "KV groups", "hidden"};
    double keep[MN_AXIS_LAYERS];
    for (int a = 0; a < MN_AXIS_LAYERS; a++) {
        if (check_ratio(what[a], opt->keep[a]) != 0) return -1;
        keep[a] = opt->keep[a];
    }
    if (opt->align < 0 || opt->align % ALIGN_BLOCK)
        return mn_fail("alignment %d is not a positive multiple of %d", opt->align, ALIGN_BLOCK);
    if (check_layers(&m->hp, opt) != 0) return -1;
    if (opt->target_params < 0 || !isfinite(opt->target_params))
        return mn_fail("parameter target %g must be positive", opt->target_params);
    if (opt->target_params > 0) return target_search(m, opt, keep, d);
    return dims_for(&m->hp, opt, keep, d);
}

/* ---------------------------------------------------------------- selection */

typedef struct {
    double score;
    int index;
} ranked;

static int by_score_desc(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->index - y->index;
}

static int by_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

void prune_top_k(const double *score, int n, int k, int *out) {
    ranked *r = malloc((size_t)n * sizeof *r);
    if (!r) { /* keep the first k: still a valid model, and callers cannot fail here */
        for (int i = 0; i < k; i++) out[i] = i;
        return;
    }
    for (int i = 0; i < n; i++) r[i] = (ranked){score[i], i};
    qsort(r, (size_t)n, sizeof *r, by_score_desc);
    for (int i = 0; i < k; i++) out[i] = r[i].index;
    free(r);
    qsort(out, (size_t)k, sizeof *out, by_int);
}

void prune_plan_free(prune_plan *p) {
    free(p->layers);
    free(p->ffn);
    free(p->heads);
    free(p->groups);
    free(p->hidden);
    free(p->norm_scale);
    memset(p, 0, sizeof *p);
}

static void identity(int *v, int n) {
    for (int i = 0; i < n; i++) v[i] = i;
}

/* The kept groups by score, and within each the same number of its best query heads. */
static void select_heads(const mn_hparams *src, const prune_dims *d, const prune_scores *sc, int l, int *groups,
                         int *heads) {
    const int G = src->n_kv_heads, per = src->n_heads / G, kept_per = d->n_heads / d->n_kv;
    if (sc->groups) prune_top_k(sc->groups + (size_t)l * G, G, d->n_kv, groups);
    else identity(groups, d->n_kv);
    for (int g = 0; g < d->n_kv; g++) {
        int *out = heads + g * kept_per, first = groups[g] * per;
        if (sc->heads) prune_top_k(sc->heads + (size_t)l * src->n_heads + first, per, kept_per, out);
        else identity(out, kept_per);
        for (int i = 0; i < kept_per; i++) out[i] += first;
    }
}

/* sqrt(D/D' * kept energy / all energy) keeps the RMS the norm divides by what it was. */
static float norm_factor(const double *energy, const int *kept, int n_kept, int dim) {
    if (!energy) return 1.0f;
    double all = 0, part = 0;
    for (int i = 0; i < dim; i++) all += energy[i];
    for (int i = 0; i < n_kept; i++) part += energy[kept[i]];
    if (!(all > 0) || !(part > 0)) return 1.0f;
    return (float)sqrt((double)dim / n_kept * part / all);
}

int prune_plan_select(const mn_model *m, const prune_dims *d, const prune_scores *sc, const prune_stats *st,
                      const mn_prune_options *opt, prune_plan *p) {
    const mn_hparams *hp = &m->hp;
    memset(p, 0, sizeof *p);
    p->hp = *hp;
    p->hp.ffn_dim = d->ffn;
    p->hp.n_heads = d->n_heads;
    p->hp.n_kv_heads = d->n_kv;
    p->hp.dim = d->dim;
    p->hp.n_layers = d->n_layers;
    const size_t L = (size_t)d->n_layers;
    p->layers = malloc(L * sizeof *p->layers);
    p->ffn = malloc(L * d->ffn * sizeof *p->ffn);
    p->heads = malloc(L * d->n_heads * sizeof *p->heads);
    p->groups = malloc(L * d->n_kv * sizeof *p->groups);
    p->hidden = malloc((size_t)d->dim * sizeof *p->hidden);
    p->norm_scale = malloc(2 * L * sizeof *p->norm_scale);
    if (!p->layers || !p->ffn || !p->heads || !p->groups || !p->hidden || !p->norm_scale) {
        prune_plan_free(p);
        return mn_fail("out of memory for the pruning plan");
    }
    if (opt->n_layers_keep) {
        memcpy(p->layers, opt->layers_keep, L * sizeof *p->layers);
        qsort(p->layers, L, sizeof *p->layers, by_int);
    } else if (sc->layers) {
        prune_top_k(sc->layers, hp->n_layers, d->n_layers, p->layers);
    } else {
        identity(p->layers, d->n_layers);
    }
    if (sc->hidden) prune_top_k(sc->hidden, hp->dim, d->dim, p->hidden);
    else identity(p->hidden, d->dim);
    for (size_t i = 0; i < L; i++) {
        const int l = p->layers[i];
        if (sc->ffn) prune_top_k(sc->ffn + (size_t)l * hp->ffn_dim, hp->ffn_dim, d->ffn, p->ffn + i * d->ffn);
        else identity(p->ffn + i * d->ffn, d->ffn);
        select_heads(hp, d, sc, l, p->groups + i * d->n_kv, p->heads + i * d->n_heads);
        const double *energy = d->dim < hp->dim && st ? st->resid + (size_t)l * hp->dim : NULL;
        p->norm_scale[2 * i] = p->norm_scale[2 * i + 1] = d->dim < hp->dim ? norm_factor(energy, p->hidden, d->dim, hp->dim) : 1.0f;
    }
    p->output_norm_scale =
        d->dim < hp->dim && st ? norm_factor(st->resid + (size_t)hp->n_layers * hp->dim, p->hidden, d->dim, hp->dim) : 1.0f;
    return 0;
}
