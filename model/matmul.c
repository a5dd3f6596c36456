#include "model/matmul.h"

#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/threads.h"
#include "formats/block_codec.h"

/* Floats per widened tile: large enough that re-packing x inside each sgemm call is a small
 * fraction of the work, small enough that two threads' tiles stay modest. */
#define TILE_FLOATS (2u << 20)

struct mn_matmul_scratch {
    int n_threads;
    float **tiles;
    size_t *capacity; /* floats */
};

mn_matmul_scratch *mn_matmul_scratch_new(void) {
    mn_matmul_scratch *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->n_threads = mn_threads();
    s->tiles = calloc((size_t)s->n_threads, sizeof *s->tiles);
    s->capacity = calloc((size_t)s->n_threads, sizeof *s->capacity);
    if (!s->tiles || !s->capacity) {
        mn_matmul_scratch_free(s);
        return NULL;
    }
    return s;
}

void mn_matmul_scratch_free(mn_matmul_scratch *s) {
    if (!s) return;
    if (s->tiles)
        for (int i = 0; i < s->n_threads; i++) free(s->tiles[i]);
    free(s->tiles);
    free(s->capacity);
    free(s);
}

void mn_tensor_rows_to_f32(const mn_tensor *t, int64_t row0, int64_t nrows, float *dst) {
    mn_dequantize(t->type, mn_tensor_row(t, row0), dst, nrows * t->ne[0]);
}

int mn_matmul(mn_matmul_scratch *s, const float *x, int m, int ldx, const mn_tensor *w, int64_t row0, int64_t n,
              float *y, int ldy, float beta) {
    const int64_t k = w->ne[0];
    if (m <= 0 || n <= 0) return 0;
    int n_threads = s->n_threads;
    if (n < (int64_t)n_threads * 16) n_threads = 1;
    int64_t tile_rows = TILE_FLOATS / k;
    if (tile_rows < 16) tile_rows = 16;
    int failed = 0;
#pragma omp parallel num_threads(n_threads)
    {
        int tid = omp_get_thread_num();
        int nt = omp_get_num_threads();
        /* contiguous slices, rounded to 16 rows so tiles stay aligned to SIMD-friendly sizes */
        int64_t per = ((n + nt - 1) / nt + 15) / 16 * 16;
        int64_t begin = tid * per, end = begin + per < n ? begin + per : n;
        for (int64_t r = begin; r < end && !failed; r += tile_rows) {
            int64_t rows = end - r < tile_rows ? end - r : tile_rows;
            const float *tile;
            const void *stored = mn_tensor_row(w, row0 + r);
            if (w->type == MN_F32 && (uintptr_t)stored % sizeof(float) == 0) {
                tile = stored;
            } else {
                size_t need = (size_t)tile_rows * (size_t)k;
                if (s->capacity[tid] < need) {
                    free(s->tiles[tid]);
                    s->tiles[tid] = malloc(need * sizeof(float));
                    s->capacity[tid] = s->tiles[tid] ? need : 0;
                }
                if (!s->tiles[tid]) {
                    failed = 1;
                    break;
                }
                mn_tensor_rows_to_f32(w, row0 + r, rows, s->tiles[tid]);
                tile = s->tiles[tid];
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, (int)rows, (int)k, 1.0f, x, ldx, tile, (int)k,
                        beta, y + r, ldy);
        }
    }
    if (failed) return mn_fail("out of memory widening %s", w->name);
    return 0;
}
