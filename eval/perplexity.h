/* Perplexity exactly as llama.cpp's llama-perplexity computes it by default, and the
 * divergence of a candidate model from a reference, as its --kl-divergence does.
 *
 * The text is tokenized as a whole (one trailing newline dropped, BOS if the vocabulary adds
 * it), cut into chunks of ctx tokens whose first token is replaced by BOS, and only the
 * second half of each chunk is scored (positions ctx/2 .. ctx-2 predicting the next token).
 * With a reference, every scored position also gets the full-vocabulary KL divergence
 * KL(p_ref || p_model) and whether both models agree on the most likely next token. The
 * reference is a model run alongside, or log-probabilities saved earlier with save_ref. */
#ifndef MN_EVAL_PERPLEXITY_H
#define MN_EVAL_PERPLEXITY_H

#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"

typedef struct {
    int ctx;      /* tokens per chunk (llama.cpp's n_ctx) */
    int n_chunks; /* <= 0: every whole chunk in the text */
    int progress; /* show a progress bar on stderr */
    /* Reference: a model, or a file written by save_ref (at most one of the two). */
    const mn_model *ref_model;
    const char *ref_file;
    const char *save_ref; /* write the reference's log-probs here; without a reference, the
                             first model's, to serve as the reference of later runs */
} mn_ppl_options;

typedef struct {
    double ppl;
    double ppl_stderr;
    double nll_mean;
    int chunks;
    int ctx;
    int64_t tokens_scored;
    int64_t text_tokens;
    double seconds;
    double tokens_per_second; /* chunk tokens evaluated per second */
    /* With a reference: */
    bool has_ref;
    double kld_mean, kld_stderr, kld_median, kld_p99, kld_max;
    double top1_agreement; /* fraction of scored positions */
    double ppl_ref, ppl_ref_stderr;
    double delta_ppl;      /* ppl - ppl_ref */
    double ppl_ratio;      /* ppl / ppl_ref */
} mn_ppl_result;

/* True when path holds log-probs saved with save_ref (rather than a model). */
bool mn_ref_logits_file(const char *path);

/* Reads and tokenizes an evaluation text as llama.cpp's -f does. */
int mn_eval_read_text(const mn_model *m, const char *path, mn_tokens *out);

/* Evaluates n_models models (sharing a tokenization of text) chunk by chunk, so a reference is
 * computed once for all of them; results[i] belongs to models[i]. Fails (naming text_name)
 * when the text has fewer than 2 × ctx tokens, as llama.cpp does. */
int mn_evaluate(const mn_model *const *models, int n_models, const mn_tokens *text, const char *text_name,
                const mn_ppl_options *opt, mn_ppl_result *results);

/* One model, no reference. */
int mn_perplexity(const mn_model *m, const mn_tokens *text, const char *text_name, const mn_ppl_options *opt,
                  mn_ppl_result *res);

#endif
