#include "eval/perplexity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/progress.h"
#include "core/usage.h"
#include "model/forward.h"
#include "model/ops.h"

int mn_eval_read_text(const mn_model *m, const char *path, mn_tokens *out) {
    size_t len;
    char *text = mn_read_file(path, &len);
    if (!text) return -1;
    if (len > 0 && text[len - 1] == '\n') len--;
    int rc = mn_tokenize(m->tok, text, len, true, out);
    free(text);
    return rc;
}

int mn_perplexity(const mn_model *m, const mn_tokens *text, const char *text_name, const mn_ppl_options *opt,
                  mn_ppl_result *res) {
    memset(res, 0, sizeof *res);
    const int ctx = opt->ctx, n_vocab = m->hp.n_vocab;
    if (ctx < 4) return mn_fail("--ctx %d is too small", ctx);
    if (text->n < (size_t)2 * ctx)
        return mn_fail("%s: text has %zu tokens; perplexity with a context of %d needs at least %d", text_name,
                       text->n, ctx, 2 * ctx);
    int n_chunks = (int)(text->n / (size_t)ctx);
    if (opt->n_chunks > 0 && opt->n_chunks < n_chunks) n_chunks = opt->n_chunks;
    const mn_vocab *vocab = mn_tokenizer_vocab(m->tok);
    const int first = ctx / 2, scored = ctx - 1 - first;

    mn_forward *f = mn_forward_new(m, ctx);
    /* the forward pass yields rows first..ctx-1; the last one predicts past the chunk and is unused */
    float *logits = malloc((size_t)(ctx - first) * n_vocab * sizeof(float));
    int32_t *chunk = malloc((size_t)ctx * sizeof(int32_t));
    double *nll = malloc((size_t)scored * sizeof(double));
    if (!f || !logits || !chunk || !nll) {
        mn_forward_free(f);
        free(logits);
        free(chunk);
        free(nll);
        return mn_has_error() ? -1 : mn_fail("out of memory for perplexity");
    }
    mn_progress bar;
    mn_progress_begin(&bar, "perplexity", (uint64_t)n_chunks, "chunks");
    if (!opt->progress) bar.active = 0;
    double sum = 0, sum2 = 0;
    int64_t count = 0;
    int rc = 0;
    double start = mn_now();
    for (int c = 0; c < n_chunks && rc == 0; c++) {
        memcpy(chunk, text->ids + (size_t)c * ctx, (size_t)ctx * sizeof(int32_t));
        if (vocab->add_bos && vocab->bos_id >= 0) chunk[0] = vocab->bos_id;
        rc = mn_forward_logits(f, chunk, ctx, first, logits);
        if (rc != 0) break;
        const int32_t *next = text->ids + (size_t)c * ctx + first + 1;
#pragma omp parallel for schedule(static)
        for (int r = 0; r < scored; r++) {
            const float *row = logits + (size_t)r * n_vocab;
            nll[r] = mn_log_sum_exp(row, n_vocab) - row[next[r]];
        }
        /* summed in order so the result does not depend on the thread count */
        for (int r = 0; r < scored; r++) {
            sum += nll[r];
            sum2 += nll[r] * nll[r];
        }
        count += scored;
        char detail[64];
        snprintf(detail, sizeof detail, "ppl %.4f", exp(sum / count));
        mn_progress_update(&bar, (uint64_t)c + 1, detail);
    }
    mn_progress_end(&bar);
    res->seconds = mn_now() - start;
    mn_forward_free(f);
    free(logits);
    free(chunk);
    free(nll);
    if (rc != 0) return -1;
    double mean = sum / count, var = sum2 / count - mean * mean;
    res->nll_mean = mean;
    res->ppl = exp(mean);
    res->ppl_stderr = var > 0 ? sqrt(var / (count - 1)) * res->ppl : 0;
    res->chunks = n_chunks;
    res->ctx = ctx;
    res->tokens_scored = count;
    res->text_tokens = (int64_t)text->n;
    res->tokens_per_second = res->seconds > 0 ? (double)n_chunks * ctx / res->seconds : 0;
    return 0;
}
