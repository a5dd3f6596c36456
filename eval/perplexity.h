/* Perplexity exactly as llama.cpp's llama-perplexity computes it by default: the text is
 * tokenized as a whole (one trailing newline dropped, BOS if the vocabulary adds it), cut
 * into chunks of ctx tokens whose first token is replaced by BOS, and only the second half
 * of each chunk is scored (positions ctx/2 .. ctx-2 predicting the next token). */
#ifndef MN_EVAL_PERPLEXITY_H
#define MN_EVAL_PERPLEXITY_H

#include <stdint.h>

#include "model/model.h"

typedef struct {
    int ctx;      /* tokens per chunk (llama.cpp's n_ctx) */
    int n_chunks; /* <= 0: every whole chunk in the text */
    int progress; /* show a progress bar on stderr */
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
} mn_ppl_result;

/* Reads and tokenizes an evaluation text as llama.cpp's -f does. */
int mn_eval_read_text(const mn_model *m, const char *path, mn_tokens *out);

/* Fails (naming text_name) when the text has fewer than 2 × ctx tokens, as llama.cpp does. */
int mn_perplexity(const mn_model *m, const mn_tokens *text, const char *text_name, const mn_ppl_options *opt,
                  mn_ppl_result *res);

#endif
