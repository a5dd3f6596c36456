/* The loss curve as a standalone SVG: per-step values as a faint line, a moving average over
 * them as a solid one, axes with round-number ticks. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/out_file.h"
#include "distill/distill_internal.h"

#define W 860
#define H 440
#define LEFT 70
#define RIGHT 20
#define TOP 56
#define BOTTOM 50

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} text;

static void put(text *t, const char *fmt, ...) MN_PRINTF(2, 3);
static void put(text *t, const char *fmt, ...) {
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = 1;
            return;
        }
        if (t->buf && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? 2 * t->cap : 1 << 16;
        while (cap <= t->len + (size_t)n) cap *= 2;
        char *grown = realloc(t->buf, cap);
        if (!grown) {
            t->failed = 1;
            return;
        }
        t->buf = grown;
        t->cap = cap;
    }
}

/* A round tick spacing giving about `count` ticks over range. */
static double nice_step(double range, int count) {
    double raw = range / count, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

typedef struct {
    double x0, x1, y0, y1;
} frame;

static double px(const frame *f, double x) { return LEFT + (x - f->x0) / (f->x1 - f->x0) * (W - LEFT - RIGHT); }
static double py(const frame *f, double y) { return H - BOTTOM - (y - f->y0) / (f->y1 - f->y0) * (H - TOP - BOTTOM); }

/* A centred moving average over `window` steps (shorter at the ends), so the smoothed curve
 * does not lag behind the raw one. */
static void polyline(text *t, const frame *f, const double *y, int64_t n, int window, const char *style) {
    put(t, "<polyline fill=\"none\" %s points=\"", style);
    double *prefix = malloc((size_t)(n + 1) * sizeof *prefix);
    if (!prefix) {
        t->failed = 1;
        return;
    }
    prefix[0] = 0;
    for (int64_t i = 0; i < n; i++) prefix[i + 1] = prefix[i] + y[i];
    for (int64_t i = 0; i < n; i++) {
        int64_t a = i - window / 2 > 0 ? i - window / 2 : 0, b = i + window / 2 + 1 < n ? i + window / 2 + 1 : n;
        put(t, "%.1f,%.1f ", px(f, (double)(i + 1)), py(f, (prefix[b] - prefix[a]) / (double)(b - a)));
    }
    free(prefix);
    put(t, "\"/>\n");
}

int distill_write_svg(const char *path, const distill_state *s, const char *title, const char *subtitle) {
    const int64_t n = s->step;
    const bool show_kl = s->cfg.alpha_ce > 0 || s->cfg.temperature != 1;
    frame f = {1, n > 1 ? (double)n : 2, INFINITY, -INFINITY};
    for (int64_t i = 0; i < n; i++) {
        const double v[2] = {s->loss[i], s->kl[i]};
        for (int k = 0; k < (show_kl ? 2 : 1); k++) {
            f.y0 = v[k] < f.y0 ? v[k] : f.y0;
            f.y1 = v[k] > f.y1 ? v[k] : f.y1;
        }
    }
    if (n == 0) f.y0 = 0, f.y1 = 1;
    if (f.y1 - f.y0 < 1e-9) f.y0 -= 0.5, f.y1 += 0.5;
    const double ystep = nice_step(f.y1 - f.y0, 6), xstep = nice_step(f.x1 - f.x0, 8);
    f.y0 = floor(f.y0 / ystep) * ystep;
    f.y1 = ceil(f.y1 / ystep) * ystep;
    const int window = n >= 20 ? (int)(n / 20) : 1;

    text t = {0};
    put(&t, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
            "font-family=\"sans-serif\" font-size=\"12\">\n", W, H, W, H);
    put(&t, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
    put(&t, "<text x=\"%d\" y=\"24\" font-size=\"15\" font-weight=\"bold\">", LEFT);
    for (const char *c = title; *c; c++) /* the title names files: escape what XML reserves */
        put(&t, "%s", *c == '<' ? "&lt;" : *c == '>' ? "&gt;" : *c == '&' ? "&amp;" : (char[2]){*c, 0});
    put(&t, "</text>\n<text x=\"%d\" y=\"42\" fill=\"#444\">%s</text>\n", LEFT, subtitle);
    for (double y = f.y0; y <= f.y1 + ystep / 2; y += ystep) {
        put(&t, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", LEFT, W - RIGHT, py(&f, y),
            py(&f, y));
        put(&t, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", LEFT - 6, py(&f, y) + 4, y);
    }
    for (double x = xstep; x <= f.x1 + xstep / 2; x += xstep) {
        if (x > f.x1) break;
        put(&t, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#999\"/>\n", px(&f, x), px(&f, x),
            H - BOTTOM, H - BOTTOM + 5);
        put(&t, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n", px(&f, x), H - BOTTOM + 18, x);
    }
    put(&t, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#999\"/>\n", LEFT, TOP,
        W - LEFT - RIGHT, H - TOP - BOTTOM);
    put(&t, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">optimizer step</text>\n", (LEFT + W - RIGHT) / 2, H - 12);
    put(&t, "<text transform=\"translate(18,%d) rotate(-90)\" text-anchor=\"middle\">nats per token</text>\n",
        (TOP + H - BOTTOM) / 2);
    polyline(&t, &f, s->loss, n, 1, "stroke=\"#1f77b4\" stroke-opacity=\"0.3\" stroke-width=\"1\"");
    polyline(&t, &f, s->loss, n, window, "stroke=\"#1f77b4\" stroke-width=\"2\"");
    if (show_kl) {
        polyline(&t, &f, s->kl, n, 1, "stroke=\"#ff7f0e\" stroke-opacity=\"0.3\" stroke-width=\"1\"");
        polyline(&t, &f, s->kl, n, window, "stroke=\"#ff7f0e\" stroke-width=\"2\"");
    }
    const int lx = W - RIGHT - 250;
    put(&t, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#1f77b4\" stroke-width=\"2\"/>"
            "<text x=\"%d\" y=\"%d\">loss",
        lx, lx + 20, TOP + 16, TOP + 16, lx + 26, TOP + 20);
    if (window > 1) put(&t, " (moving average of %d steps)", window);
    put(&t, "</text>\n");
    if (show_kl)
        put(&t, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#ff7f0e\" stroke-width=\"2\"/>"
                "<text x=\"%d\" y=\"%d\">KL(teacher || student) at T</text>\n",
            lx, lx + 20, TOP + 34, TOP + 34, lx + 26, TOP + 38);
    put(&t, "</svg>\n");
    int rc = t.failed ? mn_fail("%s: out of memory", path) : mn_out_write_whole(path, t.buf, t.len);
    free(t.buf);
    return rc;
}
