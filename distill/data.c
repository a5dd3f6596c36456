/* The distillation text: tokenized once, cut into windows, drawn in seeded shuffles. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/sha256.h"
#include "distill/distill_internal.h"

int distill_data_load(distill_data *d, const mn_model *m, const char *path, int seq, uint64_t seed) {
    memset(d, 0, sizeof *d);
    d->seq = seq;
    d->seed = seed;
    d->order_pass = -1;
    size_t len;
    char *text = mn_read_file(path, &len);
    if (!text) return -1;
    mn_tokens toks = {0};
    int rc = mn_tokenize(m->tok, text, len, true, &toks);
    free(text);
    if (rc != 0) {
        mn_tokens_free(&toks);
        return -1;
    }
    d->ids = toks.ids;
    d->n_tokens = (int64_t)toks.n;
    d->n_windows = d->n_tokens / seq;
    const mn_vocab *v = mn_tokenizer_vocab(m->tok);
    d->bos = v->add_bos ? v->bos_id : -1;
    /* the hash covers exactly what training sees: the window length and every window's tokens */
    mn_sha256 h;
    mn_sha256_init(&h);
    int32_t header[2] = {seq, d->bos};
    mn_sha256_update(&h, header, sizeof header);
    mn_sha256_update(&h, d->ids, (size_t)(d->n_windows * seq) * sizeof(int32_t));
    mn_sha256_final(&h, d->sha256);
    d->order = malloc((size_t)(d->n_windows > 0 ? d->n_windows : 1) * sizeof *d->order);
    if (!d->order) {
        distill_data_free(d);
        return mn_fail("%s: out of memory", path);
    }
    return 0;
}

void distill_data_free(distill_data *d) {
    free(d->ids);
    free(d->order);
    memset(d, 0, sizeof *d);
}

int64_t distill_data_pick(distill_data *d, int64_t pos) {
    const int64_t pass = pos / d->n_windows;
    if (pass != d->order_pass) {
        /* Fisher-Yates from a generator seeded by (seed, pass): any pass can be rebuilt from
         * the position alone, which is all a checkpoint needs to store */
        mn_rng r;
        mn_rng_seed(&r, d->seed ^ (0x9e3779b97f4a7c15ull * (uint64_t)(pass + 1)));
        for (int64_t i = 0; i < d->n_windows; i++) d->order[i] = i;
        for (int64_t i = d->n_windows - 1; i > 0; i--) {
            int64_t j = (int64_t)(mn_rng_next(&r) % (uint64_t)(i + 1));
            int64_t t = d->order[i];
            d->order[i] = d->order[j];
            d->order[j] = t;
        }
        d->order_pass = pass;
    }
    return d->order[pos % d->n_windows];
}

void distill_data_window(const distill_data *d, int64_t w, int32_t *tokens, int32_t *next) {
    const int64_t start = w * d->seq;
    memcpy(tokens, d->ids + start, (size_t)d->seq * sizeof(int32_t));
    if (d->bos >= 0) tokens[0] = d->bos;
    for (int i = 0; i < d->seq; i++) next[i] = start + i + 1 < d->n_tokens ? d->ids[start + i + 1] : -1;
}

int distill_data_next_count(const distill_data *d, int64_t w) {
    const int64_t after = d->n_tokens - 1 - w * d->seq; /* tokens following the window's first */
    return after < d->seq ? (int)after : d->seq;
}
