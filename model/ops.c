#include "model/ops.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* ---- exp ---------------------------------------------------------------------------- */

#if defined(__x86_64__) && defined(__GNUC__)
#define HAVE_AVX2_DISPATCH 1

/* exp(x) = 2^n · exp(r), r = x − n·ln2 in [−ln2/2, ln2/2], exp(r) by a degree-6 polynomial
 * (Cephes coefficients); inputs below −87.3 flush to 0 so masked −inf scores vanish. */
__attribute__((target("avx2,fma"))) static inline __m256 exp8(__m256 x) {
    const __m256 hi = _mm256_set1_ps(88.0f), lo = _mm256_set1_ps(-87.3365447505531f);
    __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(underflow, _mm256_mul_ps(p, _mm256_castsi256_ps(e)));
}

__attribute__((target("avx2,fma"))) static void exp_row_avx2(const float *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, exp8(_mm256_loadu_ps(src + i)));
    if (i < n) {
        float tmp[8] = {0};
        memcpy(tmp, src + i, (size_t)(n - i) * sizeof(float));
        _mm256_storeu_ps(tmp, exp8(_mm256_loadu_ps(tmp)));
        memcpy(dst + i, tmp, (size_t)(n - i) * sizeof(float));
    }
}

/* sum(exp(x − max)) with 8 float lanes folded into a double every 8 steps. */
__attribute__((target("avx2,fma"))) static double sum_exp_avx2(const float *x, int64_t n, float max) {
    __m256 vmax = _mm256_set1_ps(max);
    double total = 0;
    int64_t i = 0;
    while (i + 8 <= n) {
        __m256 acc = _mm256_setzero_ps();
        for (int step = 0; step < 8 && i + 8 <= n; step++, i += 8)
            acc = _mm256_add_ps(acc, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax)));
        float lanes[8];
        _mm256_storeu_ps(lanes, acc);
        for (int l = 0; l < 8; l++) total += lanes[l];
    }
    for (; i < n; i++) total += expf(x[i] - max);
    return total;
}

__attribute__((target("avx2,fma"))) static float max_avx2(const float *x, int64_t n) {
    __m256 m = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
    float lanes[8], best = -INFINITY;
    _mm256_storeu_ps(lanes, m);
    for (int l = 0; l < 8; l++) best = lanes[l] > best ? lanes[l] : best;
    for (; i < n; i++) best = x[i] > best ? x[i] : best;
    return best;
}

/* x = softmax(x) in place: one pass for the max, one for exp and sum, one to scale. */
__attribute__((target("avx2,fma"))) static void softmax_avx2(float *x, int64_t n) {
    const float max = max_avx2(x, n);
    const __m256 vmax = _mm256_set1_ps(max);
    double sum = 0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
        _mm256_storeu_ps(x + i, e);
        float lanes[8];
        _mm256_storeu_ps(lanes, e);
        sum += (double)(lanes[0] + lanes[1] + lanes[2] + lanes[3]) + (double)(lanes[4] + lanes[5] + lanes[6] + lanes[7]);
    }
    for (; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    const __m256 inv = _mm256_set1_ps((float)(1.0 / sum));
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++) x[i] *= (float)(1.0 / sum);
}

/* sum exp(lp) (lp - (x - lse)), folded into a double every 8 vectors */
__attribute__((target("avx2,fma"))) static double kl_avx2(const float *lp, const float *x, float lse, int64_t n) {
    const __m256 vlse = _mm256_set1_ps(lse);
    double total = 0;
    int64_t i = 0;
    while (i + 8 <= n) {
        __m256 acc = _mm256_setzero_ps();
        for (int step = 0; step < 8 && i + 8 <= n; step++, i += 8) {
            __m256 p = _mm256_loadu_ps(lp + i);
            __m256 q = _mm256_sub_ps(_mm256_loadu_ps(x + i), vlse);
            acc = _mm256_fmadd_ps(exp8(p), _mm256_sub_ps(p, q), acc);
        }
        float lanes[8];
        _mm256_storeu_ps(lanes, acc);
        for (int l = 0; l < 8; l++) total += lanes[l];
    }
    for (; i < n; i++) total += exp(lp[i]) * (lp[i] - (x[i] - lse));
    return total;
}

/* Finite means the exponent bits are not all ones. */
__attribute__((target("avx2"))) static int all_finite_avx2(const float *x, int64_t n) {
    const __m256i exp_mask = _mm256_set1_epi32(0x7f800000);
    __m256i bad = _mm256_setzero_si256();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i e = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(x + i)), exp_mask);
        bad = _mm256_or_si256(bad, _mm256_cmpeq_epi32(e, exp_mask));
    }
    int ok = _mm256_testz_si256(bad, bad);
    for (; i < n; i++) ok &= isfinite(x[i]) != 0;
    return ok;
}

__attribute__((target("avx2,fma"))) static void swiglu_avx2(float *g, const float *u, int n) {
    int i = 0;
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i);
        __m256 sig = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), x))));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_mul_ps(x, sig), _mm256_loadu_ps(u + i)));
    }
    for (; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

static int cpu_has_avx2(void) {
    static int cached = -1;
    if (cached < 0) cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return cached;
}
#endif

void mn_exp_row(const float *src, float *dst, int64_t n) {
#ifdef HAVE_AVX2_DISPATCH
    if (cpu_has_avx2()) {
        exp_row_avx2(src, dst, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) dst[i] = expf(src[i]);
}

float mn_max_row(const float *x, int64_t n) {
#ifdef HAVE_AVX2_DISPATCH
    if (cpu_has_avx2()) return max_avx2(x, n);
#endif
    float m = -INFINITY;
    for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

double mn_log_sum_exp(const float *x, int64_t n) {
    float max = mn_max_row(x, n);
    double sum;
#ifdef HAVE_AVX2_DISPATCH
    if (cpu_has_avx2()) sum = sum_exp_avx2(x, n, max);
    else
#endif
    {
        sum = 0;
        for (int64_t i = 0; i < n; i++) sum += expf(x[i] - max);
    }
    return log(sum) + max;
}

void mn_softmax_row(float *x, int64_t n) {
#ifdef HAVE_AVX2_DISPATCH
    if (cpu_has_avx2()) {
        softmax_avx2(x, n);
        return;
    }
#endif
    const float max = mn_max_row(x, n);
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

double mn_kl_row(const float *ref_logp, const float *logits, double lse, int64_t n) {
#ifdef HAVE_AVX2_DISPATCH
    if (cpu_has_avx2()) return kl_avx2(ref_logp, logits, (float)lse, n);
#endif
    double sum = 0;
    for (int64_t i = 0; i < n; i++) sum += exp(ref_logp[i]) * (ref_logp[i] - ((double)logits[i] - lse));
    return sum;
}

int mn_all_finite(const float *x, int64_t n) {
#ifdef HAVE_AVX2_DISPATCH
    if (cpu_has_avx2()) return all_finite_avx2(x, n);
#endif
    int ok = 1;
    for (int64_t i = 0; i < n; i++) ok &= isfinite(x[i]) != 0;
    return ok;
}

/* ---- norms and activations ------------------------------------------------------------ */

void mn_rmsnorm_rows(const float *x, int ldx, float *y, int ldy, const float *w, int n_rows, int dim, float eps) {
#pragma omp parallel for schedule(static) if (n_rows >= 32)
    for (int r = 0; r < n_rows; r++) {
        const float *xr = x + (size_t)r * ldx;
        float *yr = y + (size_t)r * ldy;
        double sum = 0;
        for (int i = 0; i < dim; i++) sum += (double)(xr[i] * xr[i]);
        const float scale = 1.0f / sqrtf((float)(sum / dim) + eps);
        for (int i = 0; i < dim; i++) yr[i] = xr[i] * scale * w[i];
    }
}

void mn_swiglu_rows(float *gate, int ldg, const float *up, int ldu, int n_rows, int n) {
#pragma omp parallel for schedule(static) if (n_rows >= 8)
    for (int r = 0; r < n_rows; r++) {
        float *g = gate + (size_t)r * ldg;
        const float *u = up + (size_t)r * ldu;
#ifdef HAVE_AVX2_DISPATCH
        if (cpu_has_avx2()) {
            swiglu_avx2(g, u, n);
            continue;
        }
#endif
        for (int i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
    }
}

/* ---- rotary embeddings ------------------------------------------------------------------ */

/* Llama 3's frequency-dependent rescaling as divisors of each frequency: long wavelengths are
 * slowed by `factor`, short ones kept, and the band between interpolated smoothly. */
void mn_rope_llama3_factors(const mn_hparams *hp, float *factors) {
    const double two_pi = 6.283185307179586;
    double low_wavelen = hp->rope_original_ctx / hp->rope_low_freq_factor;
    double high_wavelen = hp->rope_original_ctx / hp->rope_high_freq_factor;
    for (int i = 0; i < hp->head_dim / 2; i++) {
        double wavelen = two_pi * pow(hp->rope_theta, 2.0 * i / hp->head_dim);
        if (wavelen < high_wavelen) factors[i] = 1.0f;
        else if (wavelen > low_wavelen) factors[i] = hp->rope_factor;
        else {
            double smooth = (hp->rope_original_ctx / wavelen - hp->rope_low_freq_factor) /
                            (hp->rope_high_freq_factor - hp->rope_low_freq_factor);
            factors[i] = (float)(1.0 / ((1 - smooth) / hp->rope_factor + smooth));
        }
    }
}

int mn_rope_table_init(mn_rope_table *t, const mn_hparams *hp, const float *freq_factors, int n_pos) {
    t->n_pos = n_pos;
    t->half = hp->head_dim / 2;
    t->cos = malloc((size_t)n_pos * (size_t)t->half * sizeof(float));
    t->sin = malloc((size_t)n_pos * (size_t)t->half * sizeof(float));
    double *freq = malloc((size_t)t->half * sizeof(double));
    float *llama3 = NULL;
    if (!freq_factors && !strcmp(hp->rope_scaling, "llama3")) {
        llama3 = malloc((size_t)t->half * sizeof(float));
        if (llama3) mn_rope_llama3_factors(hp, llama3);
        freq_factors = llama3;
    }
    if (!t->cos || !t->sin || !freq || (!strcmp(hp->rope_scaling, "llama3") && !freq_factors)) {
        free(freq);
        free(llama3);
        mn_rope_table_free(t);
        return mn_fail("out of memory for rotary tables");
    }
    double pos_scale = !strcmp(hp->rope_scaling, "linear") ? 1.0 / hp->rope_factor : 1.0;
    for (int i = 0; i < t->half; i++) {
        freq[i] = pow(hp->rope_theta, -2.0 * i / hp->head_dim);
        if (freq_factors) freq[i] /= freq_factors[i];
    }
    for (int p = 0; p < n_pos; p++)
        for (int i = 0; i < t->half; i++) {
            double angle = p * pos_scale * freq[i];
            t->cos[(size_t)p * t->half + i] = (float)cos(angle);
            t->sin[(size_t)p * t->half + i] = (float)sin(angle);
        }
    free(freq);
    free(llama3);
    return 0;
}

void mn_rope_table_free(mn_rope_table *t) {
    free(t->cos);
    free(t->sin);
    t->cos = t->sin = NULL;
}

static void rope_rotate(const mn_rope_table *t, float *x, int ld, int n_rows, int n_heads, int head_dim,
                        mn_rope_layout layout, float sign) {
    const int half = head_dim / 2;
    /* pair i of a head: elements (2i, 2i+1) interleaved, or (i, i+half) */
    const int stride = layout == MN_ROPE_INTERLEAVED ? 2 : 1;
    const int partner = layout == MN_ROPE_INTERLEAVED ? 1 : half;
#pragma omp parallel for schedule(static) if (n_rows >= 32)
    for (int r = 0; r < n_rows; r++) {
        const float *c = t->cos + (size_t)r * t->half;
        const float *s = t->sin + (size_t)r * t->half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (size_t)r * ld + (size_t)h * head_dim;
            for (int i = 0; i < half; i++) {
                float a = v[i * stride], b = v[i * stride + partner];
                float si = sign * s[i];
                v[i * stride] = a * c[i] - b * si;
                v[i * stride + partner] = a * si + b * c[i];
            }
        }
    }
}

void mn_rope_apply(const mn_rope_table *t, float *x, int ld, int n_rows, int n_heads, int head_dim,
                   mn_rope_layout layout) {
    rope_rotate(t, x, ld, n_rows, n_heads, head_dim, layout, 1.0f);
}

void mn_rope_apply_inverse(const mn_rope_table *t, float *x, int ld, int n_rows, int n_heads, int head_dim,
                           mn_rope_layout layout) {
    rope_rotate(t, x, ld, n_rows, n_heads, head_dim, layout, -1.0f);
}

/* ---- attention ------------------------------------------------------------------------ */

/* Query rows per block: scores are computed only up to the block's last row, so the causal
 * upper triangle is mostly skipped. */
#define QUERY_BLOCK 64

int mn_attention_causal(const float *q, int ldq, const float *k, const float *v, int ldk, float *out, int ldo, int n,
                        int n_heads, int n_kv_heads, int head_dim, float *probs) {
    const int group = n_heads / n_kv_heads;
    const float scale = 1.0f / sqrtf((float)head_dim);
    int failed = 0;
#pragma omp parallel
    {
        float *scores = malloc((size_t)QUERY_BLOCK * (size_t)n * sizeof(float));
        if (!scores) failed = 1;
#pragma omp for schedule(dynamic, 1)
        for (int h = 0; h < n_heads; h++) {
            if (!scores) continue;
            const float *qh = q + (size_t)h * head_dim;
            const float *kh = k + (size_t)(h / group) * head_dim;
            const float *vh = v + (size_t)(h / group) * head_dim;
            float *oh = out + (size_t)h * head_dim;
            for (int i0 = 0; i0 < n; i0 += QUERY_BLOCK) {
                int rows = n - i0 < QUERY_BLOCK ? n - i0 : QUERY_BLOCK;
                int keys = i0 + rows;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, keys, head_dim, scale,
                            qh + (size_t)i0 * ldq, ldq, kh, ldk, 0.0f, scores, keys);
                for (int r = 0; r < rows; r++) {
                    float *row = scores + (size_t)r * keys;
                    int valid = i0 + r + 1;
                    mn_softmax_row(row, valid);
                    memset(row + valid, 0, (size_t)(keys - valid) * sizeof(float));
                    if (probs) {
                        float *dst = probs + ((size_t)h * n + (size_t)(i0 + r)) * n;
                        memcpy(dst, row, (size_t)keys * sizeof(float));
                        memset(dst + keys, 0, (size_t)(n - keys) * sizeof(float));
                    }
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, head_dim, keys, 1.0f, scores, keys, vh,
                            ldk, 0.0f, oh + (size_t)i0 * ldo, ldo);
            }
        }
        free(scores);
    }
    if (failed) return mn_fail("out of memory for attention scores (%d positions)", n);
    return 0;
}
