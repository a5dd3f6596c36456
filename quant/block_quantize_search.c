/* The scale searches, one sub-block at a time: the portable path and the definition the SIMD
 * lanes (block_quantize_lanes.h) are tested against. Every expression keeps ggml's operand
 * order; comments mark where the order or an integer type is what makes the bits match. */
#include <math.h>

#include "quant/block_quantize_internal.h"

#define GROUP_MAX_EPS 1e-15f /* ggml: below this a sub-block counts as all zero */
#define MAX_SUB 32           /* longest sub-block searched */

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The value of largest magnitude (the first one on ties), and that magnitude. */
static float signed_absmax(int n, const float *x, float *amax_out) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    *amax_out = amax;
    return max;
}

/* Weighted sums of a symmetric candidate: sum w x l and sum w l l, l = clamped round(iscale x);
 * wx holds the products w * x, which is how ggml groups (w * x) * l. */
static void symmetric_sums(int n, int nmax, const float *x, const float *w, const float *wx, float iscale,
                           float *sumlx, float *suml2) {
    float sx = 0, s2 = 0;
    for (int i = 0; i < n; i++) {
        const float l = (float)clampi(mn_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        sx += wx[i] * l;
        s2 += w[i] * l * l;
    }
    *sumlx = sx;
    *suml2 = s2;
}

static float symmetric_one(int n, int nmax, const float *x, const float *qw, int8_t *L) {
    float amax;
    const float max = signed_absmax(n, x, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float w[MAX_SUB], wx[MAX_SUB];
    for (int i = 0; i < n; i++) {
        w[i] = qw ? qw[i] : x[i] * x[i];
        wx[i] = w[i] * x[i];
    }
    float best_iscale = (float)-nmax / max;
    float sumlx, suml2;
    symmetric_sums(n, nmax, x, w, wx, best_iscale, &sumlx, &suml2);
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0) continue;
        const float iscale = -((float)nmax + 0.1f * (float)is) / max;
        symmetric_sums(n, nmax, x, w, wx, iscale, &sumlx, &suml2);
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            best_iscale = iscale;
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(nmax + clampi(mn_nearest_int(best_iscale * x[i]), -nmax, nmax - 1));
    return scale;
}

static void symmetric_scalar(int nsub, int n, int nmax, const float *x, const float *w, int8_t *L,
                             float *scale) {
    for (int k = 0; k < nsub; k++)
        scale[k] = symmetric_one(n, nmax, x + k * n, w ? w + k * n : NULL, L + k * n);
}

static float affine_one(int n, const mn_affine_search *p, const float *x, const float *w, uint8_t *L,
                        float *the_min) {
    const int nmax = p->nmax;
    float min = x[0], max = x[0];
    float sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clampi(mn_nearest_int(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * (float)L[i] + min - x[i];
        diff = p->use_mad ? fabsf(diff) : diff * diff;
        best_error += w[i] * diff;
    }
    /* ggml updates min when a candidate wins, so later candidates depend on earlier ones. */
    uint8_t Laux[MAX_SUB];
    for (int is = 0; p->nstep >= 1 && is <= p->nstep; is++) {
        iscale = (p->rmin + p->rdelta * (float)is + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            Laux[i] = (uint8_t)clampi(mn_nearest_int(iscale * (x[i] - min)), 0, nmax);
            const float l = (float)Laux[i];
            sum_l += w[i] * l;
            sum_l2 += w[i] * l * l;
            sum_xl += w[i] * l * x[i];
        }
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float error = 0;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * (float)Laux[i] + this_min - x[i];
            diff = p->use_mad ? fabsf(diff) : diff * diff;
            error += w[i] * diff;
        }
        if (error < best_error) {
            memcpy(L, Laux, (size_t)n);
            best_error = error;
            scale = this_scale;
            min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

static void affine_scalar(int nsub, int n, const mn_affine_search *p, const float *x, const float *w,
                          uint8_t *L, float *scale, float *the_min) {
    for (int k = 0; k < nsub; k++) scale[k] = affine_one(n, p, x + k * n, w + k * n, L + k * n, &the_min[k]);
}

static float q3_one(int n, const float *x, int8_t *L) {
    const int nmax = 4;
    float amax;
    const float max = signed_absmax(n, x, &amax);
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    const float iscale = (float)-nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clampi(mn_nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)l * (float)l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            if (!(slx > 0)) continue;
            float sl2 = suml2 - w * (float)L[i] * (float)L[i];
            int new_l = clampi(mn_nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (new_l == L[i]) continue;
            slx += w * x[i] * (float)new_l;
            sl2 += w * (float)new_l * (float)new_l;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)new_l;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

static void q3_scalar(int nsub, int n, const float *x, int8_t *L, float *scale) {
    for (int k = 0; k < nsub; k++) scale[k] = q3_one(n, x + k * n, L + k * n);
}

float mn_fit_positive(int n, int nmax, const float *x, uint8_t *L, const float *qw) {
    float max = 0;
    for (int i = 0; i < n; i++) max = max > x[i] ? max : x[i];
    if (max < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = (float)nmax / max;
    float scale = 1 / iscale;
    float best_mse = 0;
    for (int i = 0; i < n; i++) {
        /* ggml stores the unclamped level in a byte and reads it back: keep the wrap-around */
        L[i] = (uint8_t)mn_nearest_int(iscale * x[i]);
        float diff = x[i] - scale * (float)L[i];
        best_mse += qw[i] * diff * diff;
    }
    for (int is = -4; is <= 4; is++) {
        if (is == 0) continue;
        const float iscale_is = (0.1f * (float)is + (float)nmax) / max;
        const float scale_is = 1 / iscale_is;
        float mse = 0;
        for (int i = 0; i < n; i++) {
            int l = mn_nearest_int(iscale_is * x[i]);
            l = l < nmax ? l : nmax;
            float diff = x[i] - scale_is * (float)l;
            mse += qw[i] * diff * diff;
        }
        if (mse < best_mse) {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = mn_nearest_int(iscale * x[i]);
        l = l < nmax ? l : nmax;
        L[i] = (uint8_t)l;
        sumlx += qw[i] * x[i] * (float)l; /* the int, not the byte it wraps to */
        suml2 += qw[i] * (float)l * (float)l;
    }
    for (int itry = 0; itry < 5; itry++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = qw[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            float sl2 = suml2 - w * (float)L[i] * (float)L[i];
            if (!(slx > 0 && sl2 > 0)) continue;
            int new_l = mn_nearest_int(x[i] * sl2 / slx);
            new_l = new_l < nmax ? new_l : nmax;
            if (new_l == L[i]) continue;
            slx += w * x[i] * (float)new_l;
            sl2 += w * (float)new_l * (float)new_l;
            if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (uint8_t)new_l;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

static void round_affine_scalar(int n, const float *x, float d, float m, int top, uint8_t *L) {
    for (int i = 0; i < n; i++) L[i] = (uint8_t)clampi(mn_nearest_int((x[i] + m) / d), 0, top);
}

static void round_symmetric_scalar(int n, const float *x, float d, int lo, int hi, int8_t *L) {
    for (int i = 0; i < n; i++) L[i] = (int8_t)(clampi(mn_nearest_int(x[i] / d), lo, hi) - lo);
}

const mn_quant_kernels *mn_quant_kernels_scalar(void) {
    static const mn_quant_kernels k = {symmetric_scalar,    affine_scalar,          q3_scalar,
                                       round_affine_scalar, round_symmetric_scalar, mn_legacy_ref_scalar};
    return &k;
}

const mn_quant_kernels *mn_quant_kernels_get(void) {
    const mn_quant_kernels *k = NULL;
    switch (mn_codec_simd()) {
    case MN_SIMD_AVX512: k = mn_quant_kernels_avx512(); /* fall through */
    case MN_SIMD_AVX2:
        if (!k) k = mn_quant_kernels_avx2(); /* fall through */
    case MN_SIMD_SCALAR:
        if (!k) k = mn_quant_kernels_scalar();
    }
    return k;
}
