#include "eval/perplexity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/progress.h"
#include "core/sha256.h"
#include "core/usage.h"
#include "eval/ref_logits.h"
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

bool mn_ref_logits_file(const char *path) { return mn_ref_file_sniff(path); }

/* Running sums of one model's scores. */
typedef struct {
    double nll, nll2;
    double kld, kld2;
    int64_t count, top1_same;
    double *kld_all; /* every position's divergence, for median and tail */
} tally;

typedef struct {
    int ctx, first, scored, n_vocab, n_chunks;
    float *logits;   /* (ctx - first) × n_vocab: a model's rows for one chunk */
    float *ref_logp; /* scored × n_vocab: the reference's log-probabilities */
    int32_t *ref_argmax;
    double *row_nll, *row_kld;
    int32_t *row_argmax;
    int32_t *chunk;
} session;

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Scores one model's logits for the chunk starting at `next - first - 1`; with a reference,
 * also divergence and top-1 agreement. */
static void score_chunk(session *s, const int32_t *next, bool with_ref, tally *t) {
    const int n_vocab = s->n_vocab;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < s->scored; r++) {
        const float *row = s->logits + (size_t)r * n_vocab;
        double lse = mn_log_sum_exp(row, n_vocab);
        s->row_nll[r] = lse - row[next[r]];
        if (with_ref) {
            s->row_kld[r] = mn_kl_row(s->ref_logp + (size_t)r * n_vocab, row, lse, n_vocab);
            s->row_argmax[r] = argmax(row, n_vocab);
        }
    }
    /* summed in order so the result does not depend on the thread count */
    for (int r = 0; r < s->scored; r++) {
        t->nll += s->row_nll[r];
        t->nll2 += s->row_nll[r] * s->row_nll[r];
        if (with_ref) {
            t->kld += s->row_kld[r];
            t->kld2 += s->row_kld[r] * s->row_kld[r];
            t->kld_all[t->count] = s->row_kld[r];
            t->top1_same += s->row_argmax[r] == s->ref_argmax[r];
        }
        t->count++;
    }
}

/* Turns the reference's logits (in s->logits) into log-probs and argmaxes. */
static void reference_logp(session *s) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < s->scored; r++) {
        const float *row = s->logits + (size_t)r * s->n_vocab;
        float *out = s->ref_logp + (size_t)r * s->n_vocab;
        float lse = (float)mn_log_sum_exp(row, s->n_vocab);
        for (int i = 0; i < s->n_vocab; i++) out[i] = row[i] - lse;
        s->ref_argmax[r] = argmax(row, s->n_vocab);
    }
}

static void ref_argmax_from_logp(session *s) {
    for (int r = 0; r < s->scored; r++) s->ref_argmax[r] = argmax(s->ref_logp + (size_t)r * s->n_vocab, s->n_vocab);
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void finish(const tally *t, const session *s, bool with_ref, mn_ppl_result *res) {
    double mean = t->nll / t->count, var = t->nll2 / t->count - mean * mean;
    res->nll_mean = mean;
    res->ppl = exp(mean);
    res->ppl_stderr = var > 0 ? sqrt(var / (t->count - 1)) * res->ppl : 0;
    res->chunks = s->n_chunks;
    res->ctx = s->ctx;
    res->tokens_scored = t->count;
    if (!with_ref) return;
    res->has_ref = true;
    res->kld_mean = t->kld / t->count;
    double kvar = t->kld2 / t->count - res->kld_mean * res->kld_mean;
    res->kld_stderr = kvar > 0 ? sqrt(kvar / (t->count - 1)) : 0;
    qsort(t->kld_all, (size_t)t->count, sizeof(double), compare_double);
    res->kld_median = t->kld_all[t->count / 2];
    res->kld_p99 = t->kld_all[(int64_t)(0.99 * (double)(t->count - 1))];
    res->kld_max = t->kld_all[t->count - 1];
    res->top1_agreement = (double)t->top1_same / (double)t->count;
}

static void tokens_digest(const mn_tokens *text, int n_chunks, int ctx, char hex[65]) {
    mn_sha256_hex(text->ids, (size_t)n_chunks * ctx * sizeof(int32_t), hex);
}

/* Models compared on one tokenization must share the vocabulary, token for token. */
static int same_vocabulary(const mn_model *a, const mn_model *b) {
    const mn_vocab *va = mn_tokenizer_vocab(a->tok), *vb = mn_tokenizer_vocab(b->tok);
    if (a->hp.n_vocab != b->hp.n_vocab || va->kind != vb->kind || va->n_tokens != vb->n_tokens)
        return mn_fail("%s and %s have different vocabularies (%d and %d tokens)", a->path, b->path, a->hp.n_vocab,
                       b->hp.n_vocab);
    for (int i = 0; i < va->n_tokens; i++)
        if (strcmp(va->tokens[i], vb->tokens[i]))
            return mn_fail("%s and %s have different vocabularies (token %d is \"%s\" vs \"%s\")", a->path, b->path,
                           i, va->tokens[i], vb->tokens[i]);
    return 0;
}

int mn_evaluate(const mn_model *const *models, int n_models, const mn_tokens *text, const char *text_name,
                const mn_ppl_options *opt, mn_ppl_result *results) {
    memset(results, 0, (size_t)n_models * sizeof *results);
    const mn_model *m0 = models[0];
    session s = {.ctx = opt->ctx, .n_vocab = m0->hp.n_vocab};
    if (s.ctx < 4) return mn_fail("--ctx %d is too small", s.ctx);
    if (text->n < (size_t)2 * s.ctx)
        return mn_fail("%s: text has %zu tokens; perplexity with a context of %d needs at least %d", text_name,
                       text->n, s.ctx, 2 * s.ctx);
    for (int i = 1; i < n_models; i++)
        if (same_vocabulary(m0, models[i])) return -1;
    if (opt->ref_model && same_vocabulary(m0, opt->ref_model)) return -1;
    s.n_chunks = (int)(text->n / (size_t)s.ctx);
    if (opt->n_chunks > 0 && opt->n_chunks < s.n_chunks) s.n_chunks = opt->n_chunks;
    s.first = s.ctx / 2;
    s.scored = s.ctx - 1 - s.first;
    const bool with_ref = opt->ref_model || opt->ref_file;
    const mn_vocab *vocab = mn_tokenizer_vocab(m0->tok);

    mn_ref_reader reader = {0};
    mn_ref_writer *writer = NULL;
    mn_forward **fwd = calloc((size_t)n_models + 1, sizeof *fwd);
    tally *tallies = calloc((size_t)n_models + 1, sizeof *tallies);
    /* the forward pass yields rows first..ctx-1; the last one predicts past the chunk and is unused */
    s.logits = malloc((size_t)(s.ctx - s.first) * s.n_vocab * sizeof(float));
    s.chunk = malloc((size_t)s.ctx * sizeof(int32_t));
    s.row_nll = malloc((size_t)s.scored * sizeof(double));
    s.row_kld = malloc((size_t)s.scored * sizeof(double));
    s.row_argmax = malloc((size_t)s.scored * sizeof(int32_t));
    s.ref_argmax = malloc((size_t)s.scored * sizeof(int32_t));
    int rc = fwd && tallies && s.logits && s.chunk && s.row_nll && s.row_kld && s.row_argmax && s.ref_argmax
                 ? 0
                 : mn_fail("out of memory for evaluation");
    if (rc == 0 && (with_ref || opt->save_ref)) {
        s.ref_logp = malloc((size_t)s.scored * s.n_vocab * sizeof(float));
        for (int i = 0; i <= n_models && s.ref_logp; i++) {
            tallies[i].kld_all = malloc((size_t)s.n_chunks * s.scored * sizeof(double));
            if (!tallies[i].kld_all) rc = mn_fail("out of memory for evaluation");
        }
        if (!s.ref_logp) rc = mn_fail("out of memory for reference log-probs");
    }
    char digest[65];
    tokens_digest(text, s.n_chunks, s.ctx, digest);
    if (rc == 0 && opt->ref_file) {
        rc = mn_ref_reader_open(opt->ref_file, &reader);
        if (rc == 0 && (reader.h.n_vocab != (uint32_t)s.n_vocab || reader.h.ctx != (uint32_t)s.ctx ||
                        reader.h.n_chunks != (uint32_t)s.n_chunks))
            rc = mn_fail("%s: reference log-probs were saved for %u chunks of %u tokens and a %u-token vocabulary; "
                         "this evaluation has %d chunks of %d and %d (use the same --ctx and --chunks)",
                         opt->ref_file, reader.h.n_chunks, reader.h.ctx, reader.h.n_vocab, s.n_chunks, s.ctx,
                         s.n_vocab);
        if (rc == 0 && strcmp(digest, reader.h.tokens_sha256))
            rc = mn_fail("%s: reference log-probs were computed on a different text", opt->ref_file);
    }
    if (rc == 0 && opt->save_ref) {
        mn_ref_header h = {(uint32_t)s.n_vocab, (uint32_t)s.ctx, (uint32_t)s.n_chunks, (uint32_t)s.scored, ""};
        memcpy(h.tokens_sha256, digest, sizeof digest);
        writer = mn_ref_writer_open(opt->save_ref, &h);
        if (!writer) rc = -1;
    }
    for (int i = 0; i < n_models && rc == 0; i++)
        if (!(fwd[i] = mn_forward_new(models[i], s.ctx))) rc = -1;
    if (rc == 0 && opt->ref_model && !(fwd[n_models] = mn_forward_new(opt->ref_model, s.ctx))) rc = -1;

    mn_progress bar;
    mn_progress_begin(&bar, "evaluate", (uint64_t)s.n_chunks, "chunks");
    if (!opt->progress) bar.active = 0;
    double start = mn_now();
    for (int c = 0; c < s.n_chunks && rc == 0; c++) {
        memcpy(s.chunk, text->ids + (size_t)c * s.ctx, (size_t)s.ctx * sizeof(int32_t));
        if (vocab->add_bos && vocab->bos_id >= 0) s.chunk[0] = vocab->bos_id;
        const int32_t *next = text->ids + (size_t)c * s.ctx + s.first + 1;
        if (opt->ref_model) {
            rc = mn_forward_logits(fwd[n_models], s.chunk, s.ctx, s.first, s.logits);
            if (rc) break;
            score_chunk(&s, next, false, &tallies[n_models]);
            reference_logp(&s);
            if (writer) rc = mn_ref_writer_chunk(writer, s.ref_logp, (uint64_t)s.scored * s.n_vocab);
        } else if (opt->ref_file) {
            rc = mn_ref_reader_chunk(&reader, (uint32_t)c, s.ref_logp);
            if (rc == 0) {
                ref_argmax_from_logp(&s);
                /* the reference's own perplexity comes from its log-probs */
                for (int r = 0; r < s.scored; r++) {
                    double nll = -s.ref_logp[(size_t)r * s.n_vocab + next[r]];
                    tallies[n_models].nll += nll;
                    tallies[n_models].nll2 += nll * nll;
                    tallies[n_models].count++;
                }
            }
        }
        for (int i = 0; i < n_models && rc == 0; i++) {
            rc = mn_forward_logits(fwd[i], s.chunk, s.ctx, s.first, s.logits);
            if (rc == 0) score_chunk(&s, next, with_ref, &tallies[i]);
            if (rc == 0 && i == 0 && writer && !opt->ref_model) {
                /* no reference given: the (first) model is the reference being saved */
                reference_logp(&s);
                rc = mn_ref_writer_chunk(writer, s.ref_logp, (uint64_t)s.scored * s.n_vocab);
            }
        }
        char detail[64];
        snprintf(detail, sizeof detail, "ppl %.4f", exp(tallies[0].nll / (tallies[0].count ? tallies[0].count : 1)));
        mn_progress_update(&bar, (uint64_t)c + 1, detail);
    }
    mn_progress_end(&bar);
    double seconds = mn_now() - start;
    if (rc == 0 && writer) {
        rc = mn_ref_writer_commit(writer);
        writer = NULL;
    }
    if (rc == 0) {
        mn_ppl_result ref = {0};
        if (with_ref) finish(&tallies[n_models], &s, false, &ref);
        for (int i = 0; i < n_models; i++) {
            mn_ppl_result *r = &results[i];
            finish(&tallies[i], &s, with_ref, r);
            r->text_tokens = (int64_t)text->n;
            r->seconds = seconds;
            /* every forward pass counts, the reference's included */
            double passes = n_models + (opt->ref_model ? 1 : 0);
            r->tokens_per_second = seconds > 0 ? (double)s.n_chunks * s.ctx * passes / seconds : 0;
            if (with_ref) {
                r->ppl_ref = ref.ppl;
                r->ppl_ref_stderr = ref.ppl_stderr;
                r->delta_ppl = r->ppl - ref.ppl;
                r->ppl_ratio = r->ppl / ref.ppl;
            }
        }
    }
    mn_ref_writer_abort(writer);
    mn_ref_reader_close(&reader);
    for (int i = 0; i <= n_models && fwd; i++) mn_forward_free(fwd[i]);
    for (int i = 0; i <= n_models && tallies; i++) free(tallies[i].kld_all);
    free(fwd);
    free(tallies);
    free(s.logits);
    free(s.chunk);
    free(s.row_nll);
    free(s.row_kld);
    free(s.row_argmax);
    free(s.ref_argmax);
    free(s.ref_logp);
    return rc;
}

int mn_perplexity(const mn_model *m, const mn_tokens *text, const char *text_name, const mn_ppl_options *opt,
                  mn_ppl_result *res) {
    return mn_evaluate(&m, 1, text, text_name, opt, res);
}
