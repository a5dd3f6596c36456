#include "eval/ref_logits.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "core/error.h"

static const char magic[8] = {'M', 'N', 'R', 'E', 'F', 'L', 'P', '1'};
#define HEADER_BYTES (8 + 4 * 4 + 64)

bool mn_ref_file_sniff(const char *path) {
    mn_mapped_file m;
    if (mn_map_file(path, &m) != 0) {
        mn_clear_error();
        return false;
    }
    bool yes = m.size >= 8 && !memcmp(m.data, magic, 8);
    mn_unmap_file(&m);
    return yes;
}

/* Exponent bytes of neighbouring log-probs are nearly equal, mantissa bytes are noise: grouping
 * byte k of every float together lets zstd find the redundancy. */
static void shuffle(const float *src, uint8_t *dst, uint64_t n) {
    const uint8_t *b = (const uint8_t *)src;
    for (uint64_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++) dst[(uint64_t)k * n + i] = b[4 * i + (uint64_t)k];
}

static void unshuffle(const uint8_t *src, float *dst, uint64_t n) {
    uint8_t *b = (uint8_t *)dst;
    for (uint64_t i = 0; i < n; i++)
        for (int k = 0; k < 4; k++) b[4 * i + (uint64_t)k] = src[(uint64_t)k * n + i];
}

struct mn_ref_writer {
    mn_out_file *out;
    uint8_t *plane;
    void *frame;
    size_t cap;
};

mn_ref_writer *mn_ref_writer_open(const char *path, const mn_ref_header *h) {
    mn_ref_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->out = mn_out_open(path);
    if (!w->out) {
        free(w);
        return NULL;
    }
    uint32_t fields[4] = {h->n_vocab, h->ctx, h->n_chunks, h->scored};
    if (mn_out_write(w->out, magic, 8) || mn_out_write(w->out, fields, sizeof fields) ||
        mn_out_write(w->out, h->tokens_sha256, 64)) {
        mn_ref_writer_abort(w);
        return NULL;
    }
    return w;
}

int mn_ref_writer_chunk(mn_ref_writer *w, const float *logp, uint64_t n) {
    size_t bytes = (size_t)n * 4, bound = ZSTD_compressBound(bytes);
    if (w->cap < bytes) {
        free(w->plane);
        free(w->frame);
        w->plane = malloc(bytes);
        w->frame = malloc(bound);
        w->cap = w->plane && w->frame ? bytes : 0;
        if (!w->cap) return mn_fail("%s: out of memory compressing reference logits", mn_out_path(w->out));
    }
    shuffle(logp, w->plane, n);
    size_t size = ZSTD_compress(w->frame, ZSTD_compressBound(w->cap), w->plane, bytes, 3);
    if (ZSTD_isError(size)) return mn_fail("%s: zstd: %s", mn_out_path(w->out), ZSTD_getErrorName(size));
    uint64_t size64 = size;
    return mn_out_write(w->out, &size64, 8) || mn_out_write(w->out, w->frame, size) ? -1 : 0;
}

void mn_ref_writer_abort(mn_ref_writer *w) {
    if (!w) return;
    mn_out_abort(w->out);
    free(w->plane);
    free(w->frame);
    free(w);
}

int mn_ref_writer_commit(mn_ref_writer *w) {
    mn_out_file *out = w->out;
    w->out = NULL;
    mn_ref_writer_abort(w);
    return mn_out_commit(out);
}

int mn_ref_reader_open(const char *path, mn_ref_reader *r) {
    memset(r, 0, sizeof *r);
    if (mn_map_file(path, &r->file) != 0) return -1;
    const uint8_t *p = r->file.data;
    if (r->file.size < HEADER_BYTES || memcmp(p, magic, 8)) {
        mn_ref_reader_close(r);
        return mn_fail("%s: not a minnow reference-logits file", path);
    }
    uint32_t fields[4];
    memcpy(fields, p + 8, sizeof fields);
    r->h.n_vocab = fields[0];
    r->h.ctx = fields[1];
    r->h.n_chunks = fields[2];
    r->h.scored = fields[3];
    memcpy(r->h.tokens_sha256, p + 24, 64);
    r->h.tokens_sha256[64] = 0;
    if (!r->h.n_vocab || !r->h.ctx || !r->h.n_chunks || r->h.scored >= r->h.ctx || r->h.n_chunks > (1u << 24)) {
        mn_ref_reader_close(r);
        return mn_fail("%s: corrupt reference-logits header", path);
    }
    r->offsets = calloc(r->h.n_chunks, sizeof *r->offsets);
    r->sizes = calloc(r->h.n_chunks, sizeof *r->sizes);
    if (!r->offsets || !r->sizes) {
        mn_ref_reader_close(r);
        return mn_fail("%s: out of memory", path);
    }
    uint64_t pos = HEADER_BYTES;
    for (uint32_t c = 0; c < r->h.n_chunks; c++) {
        uint64_t size;
        if (pos + 8 > r->file.size) goto truncated;
        memcpy(&size, p + pos, 8);
        pos += 8;
        if (size > r->file.size - pos) goto truncated;
        r->offsets[c] = pos;
        r->sizes[c] = size;
        pos += size;
    }
    return 0;
truncated:
    mn_ref_reader_close(r);
    return mn_fail("%s: truncated reference-logits file", path);
}

int mn_ref_reader_chunk(const mn_ref_reader *r, uint32_t c, float *logp) {
    uint64_t n = (uint64_t)r->h.scored * r->h.n_vocab;
    uint8_t *plane = malloc((size_t)n * 4);
    if (!plane) return mn_fail("%s: out of memory", r->file.path);
    size_t got = ZSTD_decompress(plane, (size_t)n * 4, (const uint8_t *)r->file.data + r->offsets[c], r->sizes[c]);
    int rc = 0;
    if (ZSTD_isError(got) || got != (size_t)n * 4)
        rc = mn_fail("%s: chunk %u does not decompress to %llu log-probs", r->file.path, c, (unsigned long long)n);
    else unshuffle(plane, logp, n);
    free(plane);
    return rc;
}

void mn_ref_reader_close(mn_ref_reader *r) {
    free(r->offsets);
    free(r->sizes);
    mn_unmap_file(&r->file);
    memset(r, 0, sizeof *r);
}
