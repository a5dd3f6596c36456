/* compare_logits: compares two files of float32 logits (rows of n_vocab values, little-endian,
 * as `llama-peer logits -o` and minnow write them) and prints one JSON line:
 *   rows          number of rows compared
 *   max_abs_diff  largest |a - b| over all finite pairs
 *   rms_diff      sqrt(mean (a - b)^2) over all finite pairs
 *   max_rel_diff  largest, over rows, of max|a - b| / max|a| in that row (a row-relative error,
 *                 so logits near zero do not blow it up)
 *   argmax_agree  fraction of rows whose first largest entry is the same token
 *   nonfinite     number of positions where either value is NaN or infinite
 * Usage: compare_logits A.f32 B.f32 --vocab N [--max-abs X] [--min-argmax-agree F]
 * Exit status: 0 when within the thresholds given, 1 when one is violated (a non-finite value
 * violates --max-abs), 2 on bad usage or input. Files are streamed a row at a time. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Prints one line on stderr and returns the exit status for bad usage or input. */
static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;
    fputs("compare_logits: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return errno == 0 && end != s && *end == '\0' && isfinite(*out) ? 0 : -1;
}

/* Index of the first largest value; NaNs never win. */
static long argmax(const float *v, long n)
{
    long best = 0;
    for (long i = 1; i < n; i++)
        if (v[i] > v[best] || isnan(v[best]))
            best = i;
    return best;
}

static void json_num(const char *key, double v)
{
    if (isfinite(v))
        printf("\"%s\": %.9g, ", key, v);
    else
        printf("\"%s\": null, ", key);
}

int main(int argc, char **argv)
{
    const char *path[2] = {NULL, NULL};
    long vocab = 0;
    double max_abs = -1, min_agree = -1;
    int n_path = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--vocab") == 0 || strcmp(arg, "--max-abs") == 0 || strcmp(arg, "--min-argmax-agree") == 0) {
            if (i + 1 >= argc)
                return fail("option %s needs a value", arg);
            const char *value = argv[++i];
            double v;
            if (parse_double(value, &v) != 0 || v < 0)
                return fail("option %s: '%s' is not a non-negative number", arg, value);
            if (strcmp(arg, "--vocab") == 0) {
                if (v < 1 || v != floor(v) || v > 1e9)
                    return fail("option %s: '%s' is not a vocabulary size", arg, value);
                vocab = (long)v;
            } else if (strcmp(arg, "--max-abs") == 0) {
                max_abs = v;
            } else {
                if (v > 1)
                    return fail("option %s: '%s' is not a fraction in [0, 1]", arg, value);
                min_agree = v;
            }
        } else if (arg[0] == '-' && arg[1] != '\0') {
            return fail("unknown option '%s'", arg);
        } else if (n_path < 2) {
            path[n_path++] = arg;
        } else {
            return fail("unexpected argument '%s'", arg);
        }
    }
    if (n_path != 2 || vocab == 0) {
        fprintf(stderr, "usage: compare_logits A.f32 B.f32 --vocab N [--max-abs X] [--min-argmax-agree F]\n");
        return 2;
    }

    FILE *f[2];
    long long size[2];
    const long long row_bytes = (long long)vocab * (long long)sizeof(float);
    for (int k = 0; k < 2; k++) {
        struct stat st;
        f[k] = fopen(path[k], "rb");
        if (!f[k] || fstat(fileno(f[k]), &st) != 0)
            return fail("cannot open %s: %s", path[k], strerror(errno));
        size[k] = (long long)st.st_size;
        if (size[k] == 0 || size[k] % row_bytes != 0)
            return fail("%s: %lld bytes is not a non-zero multiple of %ld float32 values", path[k], size[k], vocab);
    }
    if (size[0] != size[1])
        return fail("%s and %s hold different numbers of rows", path[0], path[1]);
    const long long rows = size[0] / row_bytes;

    float *a = malloc((size_t)row_bytes), *b = malloc((size_t)row_bytes);
    if (!a || !b)
        return fail("out of memory");
    double max_diff = 0, sum_sq = 0, max_rel = 0;
    long long n_finite = 0, nonfinite = 0, agree = 0;
    for (long long r = 0; r < rows; r++) {
        if (fread(a, 1, (size_t)row_bytes, f[0]) != (size_t)row_bytes)
            return fail("cannot read %s", path[0]);
        if (fread(b, 1, (size_t)row_bytes, f[1]) != (size_t)row_bytes)
            return fail("cannot read %s", path[1]);
        double row_diff = 0, row_scale = 0;
        for (long i = 0; i < vocab; i++) {
            if (!isfinite(a[i]) || !isfinite(b[i])) {
                nonfinite++;
                continue;
            }
            const double d = fabs((double)a[i] - (double)b[i]);
            row_diff = d > row_diff ? d : row_diff;
            row_scale = fabs(a[i]) > row_scale ? fabs(a[i]) : row_scale;
            sum_sq += d * d;
            n_finite++;
        }
        max_diff = row_diff > max_diff ? row_diff : max_diff;
        if (row_scale > 0 && row_diff / row_scale > max_rel)
            max_rel = row_diff / row_scale;
        agree += argmax(a, vocab) == argmax(b, vocab);
    }
    fclose(f[0]);
    fclose(f[1]);
    free(a);
    free(b);

    const double agree_frac = (double)agree / (double)rows;
    printf("{\"rows\": %lld, ", rows);
    json_num("max_abs_diff", max_diff);
    json_num("rms_diff", n_finite ? sqrt(sum_sq / (double)n_finite) : 0.0);
    json_num("max_rel_diff", max_rel);
    json_num("argmax_agree", agree_frac);
    printf("\"nonfinite\": %lld}\n", nonfinite);

    int status = 0;
    if (max_abs >= 0 && (max_diff > max_abs || nonfinite > 0)) {
        fprintf(stderr, "compare_logits: max_abs_diff %.9g exceeds %.9g%s\n", max_diff, max_abs,
                nonfinite ? " (or non-finite values)" : "");
        status = 1;
    }
    if (min_agree >= 0 && agree_frac < min_agree) {
        fprintf(stderr, "compare_logits: argmax_agree %.6f is below %.6f\n", agree_frac, min_agree);
        status = 1;
    }
    return status;
}
