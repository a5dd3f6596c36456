/* Structured pruning (Minitron-style): removes FFN channels, attention heads or whole KV
 * groups, hidden (embedding) channels and whole layers, ranked by importance measured on
 * calibration text, and returns a smaller dense model in the same architecture and tensor
 * types, which model/hf_export.h writes and llama.cpp loads after conversion.
 *
 * Kept dimensions are the same in every layer. FFN and hidden widths snap to multiples of 256
 * (the K-quant super-block) or, where that would distort the request, of 32 (noted in the
 * report); query heads stay the same number in every KV group.
 *
 * Importance (see docs/prune.md for the exact formulas):
 *   activation: the root mean square over all calibration tokens of what each structure
 *     writes into the residual stream (an FFN channel: rms of its SwiGLU output times the norm
 *     of its down-projection column; a head: its attention output through its o_proj columns;
 *     a KV group: its heads together), and of each hidden channel at every RMSNorm output
 *     (summed over the norms); layers by block influence 1 - cos(input, output) or,
 *     optionally, by the calibration loss when the layer alone is skipped.
 *   magnitude: L2 norm of every weight a structure owns; random: seeded, deterministic. */
#ifndef MN_PRUNE_PRUNE_H
#define MN_PRUNE_PRUNE_H

#include <stdint.h>

#include "model/model.h"

typedef enum { MN_PRUNE_ACTIVATION, MN_PRUNE_MAGNITUDE, MN_PRUNE_RANDOM } mn_prune_importance;
typedef enum { MN_PRUNE_LAYER_INFLUENCE, MN_PRUNE_LAYER_LOSS } mn_prune_layer_metric;

/* The structures pruning can shrink; also indexes mn_prune_report.axis. */
typedef enum {
    MN_AXIS_FFN,       /* FFN channels per layer */
    MN_AXIS_HEADS,     /* query heads (evenly per KV group) */
    MN_AXIS_KV_GROUPS, /* KV heads with their query heads */
    MN_AXIS_HIDDEN,    /* embedding channels, through every weight and norm */
    MN_AXIS_LAYERS,    /* whole blocks */
    MN_AXIS_COUNT
} mn_prune_axis_id;

typedef struct {
    /* Keep fractions in (0, 1] of the FFN channels, query heads, KV groups and hidden channels;
     * 0 leaves the axis as it is (or to --target-params). */
    double keep[MN_AXIS_LAYERS];
    int drop_layers;        /* drop this many least important layers */
    const int *layers_keep; /* or keep exactly these layer indices (n_layers_keep of them) */
    int n_layers_keep;
    /* A parameter budget: (0, 1] a fraction of the model's parameters, > 1 a count. The axes in
     * target_axes (a bit set of 1 << mn_prune_axis_id; 0 means FFN and hidden) whose keep was not
     * given get the sizes whose model comes closest to the budget without passing it (the most
     * even mix among those within 2 % of the closest). */
    double target_params;
    unsigned target_axes;
    mn_prune_importance importance;
    mn_prune_layer_metric layer_metric;
    uint64_t seed;   /* random importance */
    int align;       /* multiple for FFN and hidden widths; 0 chooses 256 or 32 */
    /* Calibration: the first tokens of a text, cut into sequences of calib_ctx tokens whose
     * first token is replaced by BOS. At least one whole sequence is required. */
    const mn_tokens *calib;
    const char *calib_name; /* for messages */
    int calib_ctx;
    int calib_tokens; /* at most this many (whole sequences); <= 0: all */
    /* Perplexity before and after, as eval/perplexity.h computes it; eval == NULL skips it. */
    const mn_tokens *eval;
    const char *eval_name;
    int eval_ctx, eval_chunks;
    int progress;
} mn_prune_options;

typedef struct {
    int before, after;
    int align; /* FFN and hidden: the multiple the kept width snapped to (0 for other axes) */
} mn_prune_axis;

/* Parameter groups of the report. */
typedef enum { MN_PART_EMBEDDINGS, MN_PART_ATTENTION, MN_PART_FFN, MN_PART_NORMS, MN_PART_COUNT } mn_prune_part_id;

typedef struct {
    uint64_t params_before, params_after;
    uint64_t bytes_before; /* as stored in the source */
    uint64_t bytes_after;  /* as written (f16) */
} mn_prune_part;

#define MN_PRUNE_MAX_NOTES 8

typedef struct {
    mn_prune_axis axis[MN_AXIS_COUNT];
    mn_prune_part part[MN_PART_COUNT];
    mn_prune_part total;
    int *kept_layers;     /* source indices of the kept layers (axis[LAYERS].after of them) */
    double *layer_scores; /* importance of every source layer (higher matters more); NULL if unscored */
    double target_params; /* the budget in parameters (0 when none was asked for) */
    int calib_tokens, calib_sequences; /* tokens and sequences the calibration pass used (0: none) */
    double ppl_before, ppl_after;      /* 0 when not measured */
    int eval_chunks, eval_ctx;
    double seconds;
    int n_notes;
    char notes[MN_PRUNE_MAX_NOTES][200];
} mn_prune_report;

/* Builds the pruned model: a derived model (model.h) whose pruned tensors it owns, in the
 * source's type (f16 for block-quantized sources), and whose untouched tensors are views of
 * src, so src must outlive it. Source pages it has finished with are dropped from memory as
 * it goes. Returns NULL with the error recorded (invalid ratios, counts that round to zero,
 * heads that cannot be split evenly, too little calibration text, ...). */
mn_model *mn_prune(const mn_model *src, const mn_prune_options *opt, mn_prune_report *report);
void mn_prune_report_free(mn_prune_report *report);

const char *mn_prune_axis_name(mn_prune_axis_id axis);
const char *mn_prune_part_name(mn_prune_part_id part);
const char *mn_prune_importance_name(mn_prune_importance imp);
/* Parses "ffn,hidden,..." (axis names as mn_prune_axis_name gives them) into a bit set. */
int mn_prune_parse_axes(const char *list, unsigned *axes);

#endif
