/* The teacher's targets: its top-k probabilities at temperature T per position, computed by
 * the inference forward pass (weights in their stored type) or read from a cache file.
 *
 * Cache file (one teacher pass over every window of the data):
 *   header (128 bytes): "MNTEACH1", u32 version, u32 seq, u32 topk, u32 n_vocab, f32 T,
 *                       u64 n_windows, sha256 of the teacher's weights, sha256 of the windows
 *   one zstd frame per window: seq × topk ids (u32) then probabilities (f16), each array
 *                       split into byte planes so the mostly-zero high bytes compress away
 *   index: n_windows + 1 u64 file offsets of the frames (the last is the end of the last)
 *   footer: u64 offset of the index, "MNTEACH1"
 * It is written through core/out_file.h: complete or absent. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "core/error.h"
#include "core/out_file.h"
#include "core/progress.h"
#include "core/sha256.h"
#include "core/threads.h"
#include "distill/distill_internal.h"
#include "model/matmul.h"

#define CACHE_MAGIC "MNTEACH1"
#define CACHE_VERSION 1
#define HEADER_BYTES 128
#define FOOTER_BYTES 16

typedef struct {
    char magic[8];
    uint32_t version, seq, topk, n_vocab;
    float temperature;
    uint32_t pad;
    uint64_t n_windows;
    uint8_t teacher_sha256[32], data_sha256[32];
} cache_header;
_Static_assert(sizeof(cache_header) <= HEADER_BYTES, "cache header fits its slot");

static int hash_tensor(void *ctx, const char *name, const mn_tensor *t, int layer, mn_weight_role role) {
    mn_sha256 *h = ctx;
    mn_sha256_update(h, name, strlen(name) + 1);
    mn_sha256_update(h, &t->type, sizeof t->type);
    mn_sha256_update(h, t->ne, sizeof t->ne);
    mn_sha256_update(h, t->data, t->nbytes);
    return 0;
}

void distill_model_hash(const mn_model *m, uint8_t digest[32]) {
    mn_sha256 h;
    mn_sha256_init(&h);
    mn_model_for_each_tensor(m, hash_tensor, &h);
    mn_sha256_final(&h, digest);
}

/* ---- top-k ---------------------------------------------------------------------------- */

typedef struct {
    float v;
    int32_t id;
} entry;

/* a before b in the ranking: larger logit first, the lower id on ties */
static int ranks_before(entry a, entry b) { return a.v > b.v || (a.v == b.v && a.id < b.id); }

/* Min-heap on the ranking (root = the weakest kept entry). */
static void sift_down(entry *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && ranks_before(h[m], h[l])) m = l;
        if (r < n && ranks_before(h[m], h[r])) m = r;
        if (m == i) return;
        entry t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static int compare_rank(const void *a, const void *b) {
    entry x = *(const entry *)a, y = *(const entry *)b;
    return ranks_before(x, y) ? -1 : ranks_before(y, x) ? 1 : 0;
}

/* The k best logits of a row in rank order, and their probabilities at temperature T rounded
 * to f16 (the cache's precision, so cached and direct runs train identically). */
static void top_k_row(const float *z, int V, int k, float inv_t, float *scratch, entry *heap, int32_t *ids,
                      float *probs) {
    int n = 0;
    for (int j = 0; j < V; j++) {
        if (n < k) {
            heap[n++] = (entry){z[j], j};
            if (n == k)
                for (int i = k / 2 - 1; i >= 0; i--) sift_down(heap, k, i);
        } else if (z[j] > heap[0].v) { /* equal values never win: their ids are higher */
            heap[0] = (entry){z[j], j};
            sift_down(heap, k, 0);
        }
    }
    qsort(heap, (size_t)k, sizeof *heap, compare_rank);
    float zmax;
    const double sum = distill_softmax_parts(z, scratch, V, inv_t, &zmax);
    for (int i = 0; i < k; i++) {
        ids[i] = heap[i].id;
        probs[i] = mn_f16_to_f32(mn_f32_to_f16((float)(scratch[heap[i].id] / sum)));
    }
}

/* Runs the teacher on window w and fills its targets. */
static int teacher_window(distill_teacher *t, int64_t w, int32_t *ids, float *probs) {
    const int T = t->seq, V = t->n_vocab, K = t->topk;
    int32_t *tokens = malloc((size_t)T * 2 * sizeof(int32_t));
    if (!tokens) return mn_fail("out of memory");
    distill_data_window(t->data, w, tokens, tokens + T);
    int rc = mn_forward_logits(t->fwd, tokens, T, 0, t->logits);
    free(tokens);
    if (rc != 0) return -1;
    const float inv_t = 1.0f / t->temperature;
#pragma omp parallel
    {
        float *scratch = t->scratch + (size_t)omp_get_thread_num() * V;
        entry *heap = (entry *)t->heap + (size_t)omp_get_thread_num() * K;
#pragma omp for schedule(static)
        for (int r = 0; r < T; r++)
            top_k_row(t->logits + (size_t)r * V, V, K, inv_t, scratch, heap, ids + (size_t)r * K,
                      probs + (size_t)r * K);
    }
    return 0;
}

/* ---- frames ------------------------------------------------------------------------------ */

/* Byte planes of n little-endian values of `size` bytes: plane b holds byte b of each. */
static void split_planes(const uint8_t *src, uint8_t *dst, size_t n, int size) {
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < size; b++) dst[(size_t)b * n + i] = src[i * size + b];
}

static void join_planes(const uint8_t *src, uint8_t *dst, size_t n, int size) {
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < size; b++) dst[i * size + b] = src[(size_t)b * n + i];
}

static size_t frame_bytes(const distill_teacher *t) { return (size_t)t->seq * t->topk * 6; }

/* ---- cache writing --------------------------------------------------------------------------- */

static void fill_header(const distill_teacher *t, const uint8_t teacher_sha[32], cache_header *h) {
    memset(h, 0, sizeof *h);
    memcpy(h->magic, CACHE_MAGIC, 8);
    h->version = CACHE_VERSION;
    h->seq = (uint32_t)t->seq;
    h->topk = (uint32_t)t->topk;
    h->n_vocab = (uint32_t)t->n_vocab;
    h->temperature = t->temperature;
    h->n_windows = (uint64_t)t->data->n_windows;
    memcpy(h->teacher_sha256, teacher_sha, 32);
    memcpy(h->data_sha256, t->data->sha256, 32);
}

static int build_cache(distill_teacher *t, const char *path, const cache_header *h, bool progress,
                       volatile sig_atomic_t *stop) {
    const int64_t n_windows = t->data->n_windows;
    const size_t entries = (size_t)t->seq * t->topk, raw = frame_bytes(t), bound = ZSTD_compressBound(raw);
    int32_t *ids = malloc(entries * sizeof *ids);
    float *probs = malloc(entries * sizeof *probs);
    uint16_t *halves = malloc(entries * sizeof *halves);
    uint8_t *planes = malloc(raw), *packed = malloc(bound);
    uint64_t *index = malloc((size_t)(n_windows + 1) * sizeof *index);
    mn_out_file *f = ids && probs && halves && planes && packed && index ? mn_out_open(path) : NULL;
    if (!f) {
        if (!mn_has_error()) mn_fail("%s: out of memory", path);
        goto fail;
    }
    uint8_t slot[HEADER_BYTES] = {0};
    memcpy(slot, h, sizeof *h);
    if (mn_out_write(f, slot, sizeof slot) != 0) goto fail;
    mn_progress bar;
    mn_progress_begin(&bar, "teacher", (uint64_t)n_windows, "windows");
    if (!progress) bar.active = 0;
    for (int64_t w = 0; w < n_windows; w++) {
        if (stop && *stop) {
            mn_fail("%s: interrupted while building the teacher cache", path);
            goto fail;
        }
        if (teacher_window(t, w, ids, probs) != 0) goto fail;
        for (size_t i = 0; i < entries; i++) halves[i] = mn_f32_to_f16(probs[i]);
        split_planes((const uint8_t *)ids, planes, entries, 4);
        split_planes((const uint8_t *)halves, planes + entries * 4, entries, 2);
        size_t size = ZSTD_compress(packed, bound, planes, raw, 3);
        if (ZSTD_isError(size)) {
            mn_fail("%s: zstd: %s", path, ZSTD_getErrorName(size));
            goto fail;
        }
        index[w] = mn_out_offset(f);
        if (mn_out_write(f, packed, size) != 0) goto fail;
        mn_progress_update(&bar, (uint64_t)w + 1, NULL);
    }
    mn_progress_end(&bar);
    index[n_windows] = mn_out_offset(f);
    if (mn_out_pad_to(f, 8) != 0) goto fail; /* the index is read in place as u64s */
    uint64_t footer[2];
    footer[0] = mn_out_offset(f);
    memcpy(&footer[1], CACHE_MAGIC, 8);
    if (mn_out_write(f, index, (size_t)(n_windows + 1) * sizeof *index) != 0 ||
        mn_out_write(f, footer, sizeof footer) != 0)
        goto fail;
    free(ids), free(probs), free(halves), free(planes), free(packed), free(index);
    return mn_out_commit(f);
fail:
    mn_out_abort(f);
    free(ids), free(probs), free(halves), free(planes), free(packed), free(index);
    return -1;
}

/* ---- cache reading ------------------------------------------------------------------------- */

static int open_cache(distill_teacher *t, const char *path, const cache_header *want) {
    if (mn_map_file(path, &t->cache) != 0) return -1;
    const uint8_t *base = t->cache.data;
    const size_t size = t->cache.size;
    cache_header h;
    if (size < HEADER_BYTES + FOOTER_BYTES) return mn_fail("%s: not a minnow teacher cache (too short)", path);
    memcpy(&h, base, sizeof h);
    if (memcmp(h.magic, CACHE_MAGIC, 8) != 0 || memcmp(base + size - 8, CACHE_MAGIC, 8) != 0)
        return mn_fail("%s: not a minnow teacher cache (or a truncated one)", path);
    if (h.version != CACHE_VERSION) return mn_fail("%s: teacher cache version %u, expected %u", path, h.version, CACHE_VERSION);
    /* what the cache was built for must be what this run asks */
    if (memcmp(h.teacher_sha256, want->teacher_sha256, 32) != 0)
        return mn_fail("%s: teacher cache was built with a different teacher; remove it or name another file", path);
    if (h.seq != want->seq || h.n_windows != want->n_windows || memcmp(h.data_sha256, want->data_sha256, 32) != 0)
        return mn_fail("%s: teacher cache was built on different data (text, tokenizer or --seq %u); remove it or "
                       "name another file", path, h.seq);
    if (h.topk != want->topk)
        return mn_fail("%s: teacher cache holds the top %u probabilities, this run asks --topk %u", path, h.topk,
                       want->topk);
    if (h.temperature != want->temperature)
        return mn_fail("%s: teacher cache was built at --temperature %g, this run asks %g", path, h.temperature,
                       want->temperature);
    if (h.n_vocab != want->n_vocab) return mn_fail("%s: teacher cache vocabulary differs", path);
    uint64_t index_at;
    memcpy(&index_at, base + size - FOOTER_BYTES, 8);
    if (index_at < HEADER_BYTES || index_at > size - FOOTER_BYTES || (size - FOOTER_BYTES - index_at) / 8 != h.n_windows + 1 ||
        (size - FOOTER_BYTES - index_at) % 8 != 0 || index_at % 8 != 0)
        return mn_fail("%s: corrupt teacher cache (index)", path);
    t->index = (const uint64_t *)(base + index_at);
    for (uint64_t w = 0; w <= h.n_windows; w++)
        if (t->index[w] < HEADER_BYTES || t->index[w] > index_at || (w > 0 && t->index[w] < t->index[w - 1]))
            return mn_fail("%s: corrupt teacher cache (frame %llu)", path, (unsigned long long)w);
    return 0;
}

static int cached_window(distill_teacher *t, int64_t w, int32_t *ids, float *probs) {
    const size_t entries = (size_t)t->seq * t->topk, raw = frame_bytes(t);
    const uint8_t *src = (const uint8_t *)t->cache.data + t->index[w];
    size_t got = ZSTD_decompressDCtx((ZSTD_DCtx *)t->dctx, t->frame, raw, src, (size_t)(t->index[w + 1] - t->index[w]));
    if (ZSTD_isError(got) || got != raw)
        return mn_fail("%s: corrupt teacher cache (window %lld)", t->cache.path, (long long)w);
    uint16_t *halves = (uint16_t *)(t->frame_joined + entries * 4);
    join_planes(t->frame, t->frame_joined, entries, 4);
    join_planes(t->frame + entries * 4, (uint8_t *)halves, entries, 2);
    memcpy(ids, t->frame_joined, entries * sizeof *ids);
    for (size_t i = 0; i < entries; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab)
            return mn_fail("%s: corrupt teacher cache (token id %d in window %lld)", t->cache.path, ids[i], (long long)w);
        probs[i] = mn_f16_to_f32(halves[i]);
    }
    return 0;
}

/* ---- the public face ------------------------------------------------------------------------ */

static void close_direct(distill_teacher *t) {
    mn_forward_free(t->fwd);
    free(t->logits);
    free(t->scratch);
    free(t->heap);
    t->fwd = NULL;
    t->logits = t->scratch = NULL;
    t->heap = NULL;
}

void distill_teacher_close(distill_teacher *t) {
    close_direct(t);
    if (t->cache.path) mn_unmap_file(&t->cache);
    ZSTD_freeDCtx((ZSTD_DCtx *)t->dctx);
    free(t->frame);
    free(t->frame_joined);
    memset(t, 0, sizeof *t);
}

static int open_direct(distill_teacher *t) {
    const int threads = mn_threads();
    t->fwd = mn_forward_new(t->teacher, t->seq);
    t->logits = malloc((size_t)t->seq * t->n_vocab * sizeof(float));
    t->scratch = malloc((size_t)threads * t->n_vocab * sizeof(float));
    t->heap = malloc((size_t)threads * t->topk * sizeof(entry));
    if (!t->fwd || !t->logits || !t->scratch || !t->heap)
        return mn_has_error() ? -1 : mn_fail("out of memory for the teacher");
    return 0;
}

int distill_teacher_open(distill_teacher *t, const mn_model *teacher, const uint8_t teacher_sha256[32],
                         const distill_data *d, int topk, float temperature, const char *cache_path, bool progress,
                         volatile sig_atomic_t *stop, bool *reused) {
    memset(t, 0, sizeof *t);
    t->seq = d->seq;
    t->topk = topk;
    t->n_vocab = teacher->hp.n_vocab;
    t->temperature = temperature;
    t->data = d;
    t->teacher = teacher;
    *reused = false;
    if (!cache_path) return open_direct(t);
    cache_header want;
    fill_header(t, teacher_sha256, &want);
    if (!mn_file_exists(cache_path)) {
        if (open_direct(t) != 0 || build_cache(t, cache_path, &want, progress, stop) != 0) return -1;
        close_direct(t);
    } else {
        *reused = true;
    }
    t->dctx = ZSTD_createDCtx();
    t->frame = malloc(frame_bytes(t));
    t->frame_joined = malloc(frame_bytes(t));
    if (!t->dctx || !t->frame || !t->frame_joined) return mn_fail("out of memory for the teacher cache");
    return open_cache(t, cache_path, &want);
}

int distill_teacher_targets(distill_teacher *t, int64_t window, int32_t *ids, float *probs) {
    return t->index ? cached_window(t, window, ids, probs) : teacher_window(t, window, ids, probs);
}
