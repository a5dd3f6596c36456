#include <math.h>
#include <string.h>

#include "core/rng.h"
#include "formats/block_codec.h"
#include "quant/block_quantize.h"
#include "quant/quant_internal.h"
#include "tests/unit/unit.h"

static const mn_dtype quantized[] = {MN_Q8_0, MN_Q4_0, MN_Q4_1, MN_Q5_0, MN_Q5_1,
                                     MN_Q2_K, MN_Q3_K, MN_Q4_K, MN_Q5_K, MN_Q6_K};

/* Setting q through the element view must decode to a * q + b, and leave other elements alone. */
START_TEST(element_codes_match_the_decoder) {
    mn_rng r;
    mn_rng_seed(&r, 7);
    for (size_t k = 0; k < sizeof quantized / sizeof quantized[0]; k++) {
        mn_dtype t = quantized[k];
        int bs = mn_dtype_block_size(t), bytes = mn_dtype_block_bytes(t);
        float src[256], before[256], after[256];
        uint8_t block[512];
        for (int i = 0; i < bs; i++) src[i] = (float)mn_rng_normal(&r);
        ck_assert_int_eq(mn_quantize_rows(t, src, block, 1, bs, NULL), 0);
        for (int trial = 0; trial < 64; trial++) {
            int e = (int)(mn_rng_next(&r) % (uint64_t)bs);
            mn_element_code c;
            mn_block_element(t, block, e, &c);
            int q = c.lo + (int)(mn_rng_next(&r) % (uint64_t)(c.hi - c.lo + 1));
            mn_dequantize(t, block, before, bs);
            mn_block_set_q(t, block, e, q);
            mn_dequantize(t, block, after, bs);
            ck_assert_msg(fabsf(after[e] - (c.a * q + c.b)) <= 1e-5f * (1 + fabsf(after[e])),
                          "%s element %d: decoded %g, code says %g", mn_dtype_name(t), e, after[e], c.a * q + c.b);
            for (int i = 0; i < bs; i++)
                if (i != e) ck_assert_msg(after[i] == before[i], "%s: setting %d changed %d", mn_dtype_name(t), e, i);
        }
        (void)bytes;
    }
}
END_TEST

/* Output error ||(Wq - W) X^T||^2 of a quantized weight on inputs X. */
static double output_error(const float *w, const float *wq, const float *x, int rows, int cols, int n) {
    double total = 0;
    for (int r = 0; r < rows; r++)
        for (int s = 0; s < n; s++) {
            double dot = 0;
            for (int c = 0; c < cols; c++) dot += (double)(wq[r * cols + c] - w[r * cols + c]) * x[s * cols + c];
            total += dot * dot;
        }
    return total;
}

/* On correlated inputs GPTQ's error feedback must beat rounding each weight to nearest. */
START_TEST(gptq_beats_round_to_nearest) {
    enum { ROWS = 64, COLS = 256, N = 512 };
    static float w[ROWS * COLS], w_gptq[ROWS * COLS], w_rtn[ROWS * COLS], x[N * COLS], h[COLS * COLS];
    static uint8_t blocks[ROWS * 210];
    mn_rng r;
    mn_rng_seed(&r, 11);
    for (int i = 0; i < ROWS * COLS; i++) w[i] = (float)mn_rng_normal(&r);
    for (int s = 0; s < N; s++) {
        /* inputs share a few latent factors, as real activations do */
        double f[4];
        for (int k = 0; k < 4; k++) f[k] = mn_rng_normal(&r);
        for (int c = 0; c < COLS; c++) x[s * COLS + c] = (float)(f[c % 4] + 0.3 * mn_rng_normal(&r)) * (1 + c % 7);
    }
    float importance[COLS];
    for (int c = 0; c < COLS; c++) {
        double sum = 0;
        for (int s = 0; s < N; s++) sum += (double)x[s * COLS + c] * x[s * COLS + c];
        importance[c] = (float)(sum / N);
    }
    const mn_dtype types[] = {MN_Q4_K, MN_Q4_0, MN_Q6_K, MN_Q3_K};
    for (int k = 0; k < 4; k++) {
        mn_dtype t = types[k];
        ck_assert_int_eq(mn_quantize_rows(t, w, blocks, ROWS, COLS, importance), 0);
        mn_dequantize(t, blocks, w_rtn, ROWS * COLS);
        for (int i = 0; i < COLS * COLS; i++) h[i] = 0;
        for (int s = 0; s < N; s++)
            for (int i = 0; i < COLS; i++)
                for (int j = 0; j < COLS; j++) h[i * COLS + j] += x[s * COLS + i] * x[s * COLS + j];
        memcpy(w_gptq, w, sizeof w);
        ck_assert_int_eq(mn_gptq_quantize(t, w_gptq, ROWS, COLS, h, importance, blocks), 0);
        float decoded[ROWS * COLS];
        mn_dequantize(t, blocks, decoded, ROWS * COLS);
        for (int i = 0; i < ROWS * COLS; i++)
            ck_assert_msg(fabsf(decoded[i] - w_gptq[i]) <= 1e-5f * (1 + fabsf(decoded[i])),
                          "%s: blocks and returned weights disagree", mn_dtype_name(t));
        double e_rtn = output_error(w, w_rtn, x, ROWS, COLS, N), e_gptq = output_error(w, decoded, x, ROWS, COLS, N);
        ck_assert_msg(e_gptq < 0.9 * e_rtn, "%s: GPTQ error %g not below RTN %g", mn_dtype_name(t), e_gptq, e_rtn);
    }
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("quant");
    TCase *tc = tcase_create("blocks");
    tcase_add_test(tc, element_codes_match_the_decoder);
    tcase_add_test(tc, gptq_beats_round_to_nearest);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}

MN_UNIT_MAIN
