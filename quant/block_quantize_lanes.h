/* The kernels of block_quantize_search.c on vectors: the scale searches with one sub-block
 * per lane, the final rounding with consecutive values per vector.
 *
 * Included once per instruction set by block_quantize_avx2.c and block_quantize_avx512.c,
 * which define LANES and LANES_KERNELS (the name of the mn_quant_kernels getter) and set the
 * target. Written with GCC vector extensions so both widths share one source.
 *
 * Every lane runs its own sub-block's search with the scalar code's operations in the scalar
 * code's order, so the results are the same bits; the only restructuring is that branches
 * become per-lane selects, and a loop that ggml leaves early (no change in a pass) runs on
 * while any lane still changes, which leaves finished lanes as they are. */
#include "quant/block_quantize_internal.h"

typedef float vf __attribute__((vector_size(4 * LANES)));
typedef int32_t vi __attribute__((vector_size(4 * LANES)));

#define MAX_N 32 /* longest sub-block searched */

static inline vf sel(vi m, vf a, vf b) { return (vf)((m & (vi)a) | (~m & (vi)b)); }
static inline vi seli(vi m, vi a, vi b) { return (m & a) | (~m & b); }
static inline vf vabs(vf v) { return (vf)((vi)v & 0x7fffffff); }
static inline vf tof(vi v) { return __builtin_convertvector(v, vf); }
static inline vf splat(float f) { return (vf){0} + f; }

static inline vi nearest(vf f) {
    vf v = f + 12582912.f;
    return ((vi)v & 0x007fffff) - 0x00400000;
}

static inline vi clamp(vi v, int lo, int hi) {
    v = seli(v < lo, (vi){0} + lo, v);
    return seli(v > hi, (vi){0} + hi, v);
}

static inline bool any(vi m) {
    int32_t a[LANES];
    memcpy(a, &m, sizeof a);
    int32_t r = 0;
    for (int k = 0; k < LANES; k++) r |= a[k];
    return r != 0;
}

/* Lane k <- sub-block first + k (the last real one repeated past nsub), element-major. */
static void gather(int nsub, int first, int n, const float *x, vf *t) {
    for (int k = 0; k < LANES; k++) {
        const int s = first + k < nsub ? first + k : nsub - 1;
        for (int i = 0; i < n; i++) t[i][k] = x[s * n + i];
    }
}

static int lanes_in(int nsub, int first) { return nsub - first < LANES ? nsub - first : LANES; }

/* ---- symmetric: make_qx_quants, rmse_type 1 ----------------------------------------------- */

static void signed_absmax(int n, const vf *x, vf *amax_out, vf *max_out) {
    vf amax = splat(0), max = splat(0);
    for (int i = 0; i < n; i++) {
        vf ax = vabs(x[i]);
        vi m = ax > amax;
        amax = sel(m, ax, amax);
        max = sel(m, x[i], max);
    }
    *amax_out = amax;
    *max_out = max;
}

static void symmetric_sums(int n, int nmax, const vf *x, const vf *wx, const vf *w, vf iscale, vf *sumlx,
                           vf *suml2) {
    vf sx = splat(0), s2 = splat(0);
    for (int i = 0; i < n; i++) {
        vf l = tof(clamp(nearest(iscale * x[i]), -nmax, nmax - 1));
        sx += wx[i] * l;
        s2 += w[i] * l * l;
    }
    *sumlx = sx;
    *suml2 = s2;
}

static void symmetric_lanes(int nsub, int n, int nmax, const float *xs, const float *ws, int8_t *L,
                            float *scale) {
    vf x[MAX_N], w[MAX_N], wx[MAX_N];
    for (int first = 0; first < nsub; first += LANES) {
        gather(nsub, first, n, xs, x);
        if (ws)
            gather(nsub, first, n, ws, w);
        else
            for (int i = 0; i < n; i++) w[i] = x[i] * x[i];
        for (int i = 0; i < n; i++) wx[i] = w[i] * x[i];
        vf amax, max;
        signed_absmax(n, x, &amax, &max);
        const vi tiny = amax < 1e-15f;
        vf best_iscale = (float)-nmax / max, sumlx, suml2;
        symmetric_sums(n, nmax, x, wx, w, best_iscale, &sumlx, &suml2);
        vf sc = sel(suml2 != 0, sumlx / suml2, splat(0));
        vf best = sc * sumlx;
        for (int is = -9; is <= 9; is++) {
            if (is == 0) continue;
            const vf iscale = -((float)nmax + 0.1f * (float)is) / max;
            symmetric_sums(n, nmax, x, wx, w, iscale, &sumlx, &suml2);
            const vi win = (suml2 > 0) & (sumlx * sumlx > best * suml2);
            best_iscale = sel(win, iscale, best_iscale);
            sc = sel(win, sumlx / suml2, sc);
            best = sel(win, sc * sumlx, best);
        }
        sc = sel(tiny, splat(0), sc);
        const int nl = lanes_in(nsub, first);
        for (int i = 0; i < n; i++) {
            vi l = seli(tiny, (vi){0}, clamp(nearest(best_iscale * x[i]), -nmax, nmax - 1) + nmax);
            for (int k = 0; k < nl; k++) L[(first + k) * n + i] = (int8_t)l[k];
        }
        for (int k = 0; k < nl; k++) scale[first + k] = sc[k];
    }
}

/* ---- affine: make_qkx2_quants / make_qkx3_quants ----------------------------------------- */

static vf weighted_error(int n, const vf *x, const vf *w, const vi *L, vf scale, vf min, bool use_mad) {
    vf err = splat(0);
    for (int i = 0; i < n; i++) {
        vf diff = scale * tof(L[i]) + min - x[i];
        err += w[i] * (use_mad ? vabs(diff) : diff * diff);
    }
    return err;
}

static void affine_lanes(int nsub, int n, const mn_affine_search *p, const float *xs, const float *ws,
                         uint8_t *Lout, float *scale_out, float *min_out) {
    const int nmax = p->nmax;
    vf x[MAX_N], w[MAX_N];
    vi L[MAX_N], Laux[MAX_N];
    for (int first = 0; first < nsub; first += LANES) {
        gather(nsub, first, n, xs, x);
        gather(nsub, first, n, ws, w);
        vf min = x[0], max = x[0], sum_w = w[0], sum_x = w[0] * x[0];
        for (int i = 1; i < n; i++) {
            min = sel(x[i] < min, x[i], min);
            max = sel(x[i] > max, x[i], max);
            sum_w += w[i];
            sum_x += w[i] * x[i];
        }
        min = sel(min > 0, splat(0), min);
        const vi flat = max == min;
        const vf flat_min = min;
        vf iscale = (float)nmax / (max - min);
        vf scale = 1.0f / iscale;
        for (int i = 0; i < n; i++) L[i] = clamp(nearest(iscale * (x[i] - min)), 0, nmax);
        vf best = weighted_error(n, x, w, L, scale, min, p->use_mad);
        for (int is = 0; p->nstep >= 1 && is <= p->nstep; is++) {
            iscale = (p->rmin + p->rdelta * (float)is + (float)nmax) / (max - min);
            vf sum_l = splat(0), sum_l2 = splat(0), sum_xl = splat(0);
            for (int i = 0; i < n; i++) {
                Laux[i] = clamp(nearest(iscale * (x[i] - min)), 0, nmax);
                const vf l = tof(Laux[i]);
                sum_l += w[i] * l;
                sum_l2 += w[i] * l * l;
                sum_xl += w[i] * l * x[i];
            }
            const vf D = sum_w * sum_l2 - sum_l * sum_l;
            vf this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            vf this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            const vi positive = this_min > 0;
            this_min = sel(positive, splat(0), this_min);
            this_scale = sel(positive, sum_xl / sum_l2, this_scale);
            const vf err = weighted_error(n, x, w, Laux, this_scale, this_min, p->use_mad);
            const vi win = (D > 0) & (err < best);
            if (!any(win)) continue;
            for (int i = 0; i < n; i++) L[i] = seli(win, Laux[i], L[i]);
            best = sel(win, err, best);
            scale = sel(win, this_scale, scale);
            min = sel(win, this_min, min);
        }
        scale = sel(flat, splat(0), scale);
        min = -sel(flat, flat_min, min);
        const int nl = lanes_in(nsub, first);
        for (int i = 0; i < n; i++) {
            vi l = seli(flat, (vi){0}, L[i]);
            for (int k = 0; k < nl; k++) Lout[(first + k) * n + i] = (uint8_t)l[k];
        }
        for (int k = 0; k < nl; k++) {
            scale_out[first + k] = scale[k];
            min_out[first + k] = min[k];
        }
    }
}

/* ---- make_q3_quants ------------------------------------------------------------------------ */

static void q3_lanes(int nsub, int n, const float *xs, int8_t *Lout, float *scale_out) {
    const int nmax = 4;
    vf x[MAX_N], wx[MAX_N], w[MAX_N];
    vi L[MAX_N];
    for (int first = 0; first < nsub; first += LANES) {
        gather(nsub, first, n, xs, x);
        for (int i = 0; i < n; i++) {
            w[i] = x[i] * x[i];
            wx[i] = w[i] * x[i];
        }
        vf amax, max;
        signed_absmax(n, x, &amax, &max);
        const vi tiny = amax < 1e-15f;
        const vf iscale = (float)-nmax / max;
        vf sumlx = splat(0), suml2 = splat(0);
        for (int i = 0; i < n; i++) {
            L[i] = clamp(nearest(iscale * x[i]), -nmax, nmax - 1);
            const vf l = tof(L[i]);
            sumlx += wx[i] * l;
            suml2 += w[i] * l * l;
        }
        for (int itry = 0; itry < 5; itry++) {
            vi changed = {0};
            for (int i = 0; i < n; i++) {
                const vf l = tof(L[i]);
                vf slx = sumlx - wx[i] * l;
                vf sl2 = suml2 - w[i] * l * l;
                const vi new_l = clamp(nearest(x[i] * sl2 / slx), -nmax, nmax - 1);
                const vf nl = tof(new_l);
                const vi tried = (slx > 0) & (new_l != L[i]);
                slx += wx[i] * nl;
                sl2 += w[i] * nl * nl;
                const vi take = tried & (sl2 > 0) & (slx * slx * suml2 > sumlx * sumlx * sl2);
                L[i] = seli(take, new_l, L[i]);
                sumlx = sel(take, slx, sumlx);
                suml2 = sel(take, sl2, suml2);
                changed |= take;
            }
            if (!any(changed)) break;
        }
        const vf sc = sel(tiny | ~(suml2 > 0), splat(0), sumlx / suml2);
        const int nl = lanes_in(nsub, first);
        for (int i = 0; i < n; i++) {
            vi l = seli(tiny, (vi){0}, L[i] + nmax);
            for (int k = 0; k < nl; k++) Lout[(first + k) * n + i] = (int8_t)l[k];
        }
        for (int k = 0; k < nl; k++) scale_out[first + k] = sc[k];
    }
}

/* ---- final rounding: plain elementwise work, consecutive values per vector -------------- */

static void round_affine_lanes(int n, const float *x, float d, float m, int top, uint8_t *L) {
    for (int i = 0; i < n; i += LANES) {
        vf v;
        memcpy(&v, x + i, sizeof v);
        const vi l = clamp(nearest((v + m) / d), 0, top);
        for (int k = 0; k < LANES; k++) L[i + k] = (uint8_t)l[k];
    }
}

static void round_symmetric_lanes(int n, const float *x, float d, int lo, int hi, int8_t *L) {
    for (int i = 0; i < n; i += LANES) {
        vf v;
        memcpy(&v, x + i, sizeof v);
        const vi l = clamp(nearest(v / d), lo, hi) - lo;
        for (int k = 0; k < LANES; k++) L[i + k] = (int8_t)l[k];
    }
}

const mn_quant_kernels *LANES_KERNELS(void) {
    static const mn_quant_kernels k = {symmetric_lanes,    affine_lanes,          q3_lanes,
                                       round_affine_lanes, round_symmetric_lanes, mn_legacy_ref_avx2};
    return &k;
}
