/* Shared between the files of distill/ (and the gradient test): the text windows, the teacher's
 * targets and their cache, the loss, the optimizer, checkpoints and the loss curve. */
#ifndef MN_DISTILL_INTERNAL_H
#define MN_DISTILL_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/mapped_file.h"
#include "core/rng.h"
#include "distill/distill.h"
#include "model/forward.h"
#include "model/model.h"
#include "model/train.h"

/* ---- data: the text cut into windows ---------------------------------------------------- */

/* The text tokenized once (BOS first when the vocabulary adds it), cut into n_windows
 * non-overlapping windows of seq tokens whose first token is replaced by BOS, as the
 * perplexity evaluation feeds chunks. Training draws windows in a seeded shuffle, a new one
 * each pass over the text, so the data position is a single counter. */
typedef struct {
    int32_t *ids;
    int64_t n_tokens;
    int seq;
    int32_t bos; /* -1 when the vocabulary adds none */
    int64_t n_windows;
    uint8_t sha256[32]; /* of the windows' tokens: names the data in the cache and checkpoints */
    uint64_t seed;
    int64_t *order; /* the shuffle of the current pass */
    int64_t order_pass;
} distill_data;

int distill_data_load(distill_data *d, const mn_model *m, const char *path, int seq, uint64_t seed);
void distill_data_free(distill_data *d);
/* The window drawn at position `pos` (0, 1, 2, ... across passes). */
int64_t distill_data_pick(distill_data *d, int64_t pos);
/* tokens[seq], and next[seq]: the token that follows each position in the text (-1 past its end). */
void distill_data_window(const distill_data *d, int64_t w, int32_t *tokens, int32_t *next);
/* Positions of window w that have a next token (seq, except at the very end of the text). */
int distill_data_next_count(const distill_data *d, int64_t w);

/* ---- teacher targets ---------------------------------------------------------------------- */

/* Per position, the teacher's topk most likely tokens (ids, probabilities at temperature T
 * rounded to f16, the cache's precision, whichever way they were computed). */
typedef struct {
    int seq, topk, n_vocab;
    float temperature;
    const distill_data *data;
    /* direct: */
    const mn_model *teacher;
    mn_forward *fwd;
    float *logits;  /* seq × n_vocab */
    float *scratch; /* threads × n_vocab */
    void *heap;     /* threads × topk top-k candidates */
    /* cached: */
    mn_mapped_file cache;
    const uint64_t *index; /* n_windows + 1 frame offsets */
    void *dctx;            /* ZSTD_DCtx */
    uint8_t *frame, *frame_joined; /* one window, as stored and with its byte planes joined */
} distill_teacher;

/* sha256 of a model's tensors (names, types, shapes, bytes): names the teacher in the cache
 * and in checkpoints. */
void distill_model_hash(const mn_model *m, uint8_t digest[32]);

/* e = exp((z - max z) / T) unnormalised; returns Σe (in double) and *zmax, so that
 * softmax_T(z)_j = e_j / Σe and log softmax_T(z)_j = (z_j - zmax) / T - log Σe. */
double distill_softmax_parts(const float *z, float *e, int n, float inv_t, float *zmax);

/* Uses the teacher directly when cache_path is NULL; otherwise reads the cache, building it
 * first (one teacher pass over every window) when the file does not exist. *reused tells which.
 * teacher_sha256 (distill_model_hash) names the teacher in the cache. Building watches *stop
 * and fails with "interrupted" when it is set. */
int distill_teacher_open(distill_teacher *t, const mn_model *teacher, const uint8_t teacher_sha256[32],
                         const distill_data *d, int topk, float temperature, const char *cache_path, bool progress,
                         volatile sig_atomic_t *stop, bool *reused);
void distill_teacher_close(distill_teacher *t);
/* ids and probs: seq × topk. */
int distill_teacher_targets(distill_teacher *t, int64_t window, int32_t *ids, float *probs);

/* ---- loss ----------------------------------------------------------------------------------- */

/* loss = (1 - alpha) T² KL(p_T ‖ q_T) + alpha CE, where p_T is the teacher's top-k
 * probabilities plus one tail bucket holding the rest of its mass (1 - Σ top-k), and q_T the
 * student's softmax at temperature T coarsened the same way (its own top-k-token probabilities
 * and the sum of all others). The gradient on logit j is (1 - alpha) T (q_j - target_j) with
 * target_j = p_j for top-k tokens and p_tail q_j / q_tail for the others, plus
 * alpha (softmax(z)_j - [j = next]); KL terms are averaged over kl_count positions and CE
 * over ce_count, the counts of the whole optimizer step, so accumulated micro-batches add up
 * to the step's mean. */
typedef struct {
    int n_vocab, topk;
    float temperature, alpha_ce;
    double kl_count, ce_count;
    /* the micro-batch's rows: */
    const int32_t *ids;  /* rows × topk */
    const float *probs;  /* rows × topk */
    const int32_t *next; /* rows: CE target, -1 for none */
    /* per-row results (rows), summed in row order by the caller */
    double *kl, *ce;
    bool nonfinite; /* set when a row's loss was NaN or infinite */
    int n_threads;
    float *scratch; /* n_threads × 2 n_vocab */
} distill_loss;

int distill_loss_init(distill_loss *l, int n_vocab, int topk, float temperature, float alpha_ce, int max_rows);
void distill_loss_free(distill_loss *l);
/* The mn_train_loss_fn: ctx is a distill_loss. Fails when a row's loss is not finite. */
int distill_loss_rows(void *ctx, int row0, int n_rows, float *logits);
/* One row (for tests): returns KL and CE of the row (CE when next >= 0 and either weighted or
 * T = 1, where it costs nothing; else 0) and writes the gradient of
 * kl_weight · T² · KL + ce_weight · CE into z. */
void distill_loss_row(float *z, int n_vocab, const int32_t *ids, const float *probs, int topk, int32_t next,
                      float temperature, double kl_weight, double ce_weight, float *scratch, double *kl, double *ce);

/* ---- optimizer ---------------------------------------------------------------------------- */

typedef struct {
    double lr, min_lr;
    int64_t warmup, total;
    double budget; /* > 0: the schedule runs over this many seconds of training, not `total` steps */
    double beta1, beta2, eps, weight_decay, clip;
} distill_optim;

/* Learning rate of step s (1-based) after `seconds` of training: linear warmup to lr over
 * `warmup` steps, then cosine decay to min_lr at step `total`, or, with a time budget, at
 * `budget` seconds (the decay's progress is then the fraction of the budget spent). */
double distill_lr(const distill_optim *o, int64_t step, double seconds);
/* L2 norm of the gradient, summed in fixed blocks (thread-count independent). */
double distill_grad_norm(const float *g, int64_t n);
/* One AdamW step (decoupled weight decay on the params marked decay) with the gradient
 * scaled by clip_scale; m and v are the moment vectors. */
void distill_adamw(const distill_optim *o, mn_train *t, float *m, float *v, int64_t step, double lr, float clip_scale);

/* ---- checkpoints ------------------------------------------------------------------------------ */

/* Everything a run's result depends on: resuming requires the same values. */
typedef struct {
    uint8_t teacher_sha256[32], data_sha256[32];
    int64_t n_floats; /* the student's size */
    int32_t seq, batch, accum, topk, warmup, threads;
    int64_t steps; /* as requested: 0 when the budget is `minutes` */
    double lr, temperature, alpha_ce, minutes;
    uint64_t seed;
} distill_config;

typedef struct {
    distill_config cfg;
    int64_t total_steps;  /* --steps; with --minutes an estimate, refined as the run goes */
    int64_t warmup_steps; /* as resolved when the run started */
    int64_t step;    /* optimizer steps done */
    int64_t drawn;   /* windows drawn from the data */
    double train_seconds;
    double ppl_teacher, ppl_before;
    /* loss, KL and CE of every step so far (step entries each) */
    double *loss, *kl, *ce;
    int64_t history_cap;
} distill_state;

/* Writes weights, AdamW moments and the state atomically. */
int distill_checkpoint_save(const char *path, const distill_state *s, const float *w, const float *m, const float *v);
/* Reads the state (allocating its history) and, if w is not NULL, the vectors. Fails naming
 * the first setting that differs from `expect`. */
int distill_checkpoint_load(const char *path, const distill_config *expect, distill_state *s, float *w, float *m,
                            float *v);
int distill_history_push(distill_state *s, double loss, double kl, double ce);
void distill_state_free(distill_state *s);

/* ---- report ------------------------------------------------------------------------------------ */

/* An SVG chart of the loss (and KL when it differs) per step; the title is escaped, the
 * subtitle must be plain text without XML specials. */
int distill_write_svg(const char *path, const distill_state *s, const char *title, const char *subtitle);

#endif
