/* Shared between prune/'s source files (and its unit test) only: the calibration statistics,
 * importance scores and the plan that turns them into kept indices. */
#ifndef MN_PRUNE_INTERNAL_H
#define MN_PRUNE_INTERNAL_H

#include <stdbool.h>

#include "prune/prune.h"

/* Kept sizes, uniform across layers. */
typedef struct {
    int ffn, n_heads, n_kv, dim, n_layers;
    int ffn_align, dim_align;    /* the multiple each width snapped to */
    bool ffn_coarse, dim_coarse; /* the width fell back from 256 to a finer multiple */
    bool heads_follow_dim;       /* phi3: heads derived from the hidden width or the reverse */
} prune_dims;

/* Activation statistics of a calibration pass (prune/calibrate.c): sums over every calibration
 * token, so sqrt(sum / tokens) is the root mean square. */
typedef struct {
    int n_layers, dim, n_ffn, n_heads;
    int sequences, tokens;
    double *ffn;    /* [layer][ffn]: x^2 at the down projection's input */
    double *heads;  /* [layer][head]: |W_o,h a_h|^2, what the head writes into the residual stream */
    double *hidden; /* [2 layer + 0|1][dim]: x^2 after the attention / FFN RMSNorm */
    double *resid;  /* [layer][dim]: x^2 of the residual entering each block; [n_layers]: after the last */
    double *cos;    /* [layer]: cos(block input, block output) */
} prune_stats;

/* Runs the calibration sequences through the model one layer at a time (so only one layer's
 * weights need be resident) and collects the statistics. */
int prune_calibrate(const mn_model *m, const mn_prune_options *opt, prune_stats *st);
void prune_stats_free(prune_stats *st);
/* loss[l]: mean next-token loss on the calibration sequences with layer l skipped; loss[n_layers]
 * with every layer. */
int prune_layer_loss(const mn_model *m, const mn_prune_options *opt, double *loss);
/* Whole calibration sequences the options ask for; fails when the text is shorter than one. */
int prune_calib_sequences(const mn_prune_options *opt);

/* Importance, higher = keep (prune/importance.c). Arrays are NULL for axes not pruned. */
typedef struct {
    double *ffn;    /* [layer][ffn] */
    double *heads;  /* [layer][head] */
    double *groups; /* [layer][kv group] */
    double *hidden; /* [dim] */
    double *layers; /* [layer] */
} prune_scores;

/* `axes`: bit set of the axes to score. st is needed for activation importance and may be NULL
 * otherwise; layer_loss (n_layers + 1 values, see prune_layer_loss) replaces block influence. */
int prune_score(const mn_model *m, const mn_prune_options *opt, unsigned axes, const prune_stats *st,
                const double *layer_loss, prune_scores *sc);
void prune_scores_free(prune_scores *sc);

/* Kept sizes for the options (prune/plan.c), with the --target-params search. */
int prune_plan_dims(const mn_model *m, const mn_prune_options *opt, prune_dims *d);
/* Parameters of the model src would become with these sizes. */
uint64_t prune_count_params(const mn_model *src, const prune_dims *d);
/* Bit set of the axes whose size shrinks. */
unsigned prune_dims_axes(const mn_hparams *hp, const prune_dims *d);

/* Which source structures survive: indices ascending, per kept layer where per-layer. */
typedef struct {
    mn_hparams hp; /* of the pruned model */
    int *layers;   /* [hp.n_layers] source layer indices */
    int *ffn;      /* [kept layer][hp.ffn_dim] */
    int *heads;    /* [kept layer][hp.n_heads] source query heads, kept group by kept group */
    int *groups;   /* [kept layer][hp.n_kv_heads] */
    int *hidden;   /* [hp.dim] */
    /* Factors for the RMSNorm weights when hidden channels go: the norm divides by the RMS of
     * fewer channels, so each weight is scaled to keep the expected output unchanged.
     * [kept layer][0 attention, 1 FFN], and the output norm. */
    float *norm_scale;
    float output_norm_scale;
} prune_plan;

int prune_plan_select(const mn_model *m, const prune_dims *d, const prune_scores *sc, const prune_stats *st,
                      const mn_prune_options *opt, prune_plan *p);
void prune_plan_free(prune_plan *p);
/* Indices of the k highest scores (ties to the lower index), in ascending order. */
void prune_top_k(const double *score, int n, int k, int *out);

/* Builds the pruned model (prune/apply.c). */
mn_model *prune_apply(const mn_model *src, const prune_plan *p, int progress);

/* Drops a source tensor's pages from the resident set once they are no longer needed (they
 * stay in the page cache and fault back in if read again). Only for models mapped from files:
 * on owned buffers it does nothing. */
void prune_release(const mn_model *m, const mn_tensor *t);
void prune_release_layer(const mn_model *m, int layer);
void prune_release_model(const mn_model *m);

#endif
