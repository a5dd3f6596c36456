#include "core/svg_chart.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/out_file.h"

#define WIDTH 760
#define HEIGHT 480
#define LEFT 80
#define RIGHT 30
#define TOP 50
#define BOTTOM 60

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

typedef struct {
    char *buf;
    size_t len, cap;
    int failed;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...) {
    if (t->failed) return;
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)(n > 0 ? n : 0) + 1024;
        char *grown = realloc(t->buf, cap);
        if (!grown) {
            t->failed = 1;
            return;
        }
        t->buf = grown;
        t->cap = cap;
    }
}

/* XML-safe copy of a label. */
static void put_escaped(text *t, const char *s) {
    for (; *s; s++) {
        if (*s == '<') put(t, "&lt;");
        else if (*s == '>') put(t, "&gt;");
        else if (*s == '&') put(t, "&amp;");
        else put(t, "%c", *s);
    }
}

/* A "nice" tick step for a range, so axes read 0.5, 1, 1.5 rather than 0.4837... */
static double tick_step(double span) {
    double raw = span / 5, mag = pow(10, floor(log10(raw))), r = raw / mag;
    return (r < 1.5 ? 1 : r < 3.5 ? 2 : r < 7.5 ? 5 : 10) * mag;
}

/* Labels of nearby points would overprint each other: each label takes the first of a few
 * vertical offsets whose box is clear of the labels already placed. */
#define MAX_LABELS 64
typedef struct {
    double x, y;
    size_t chars;
} label_box;

static double label_y(const label_box *placed, int n, double px, double py, size_t chars) {
    static const double offsets[] = {-6, 16, -20, 30, -34, 44};
    for (size_t k = 0; k < sizeof offsets / sizeof offsets[0]; k++) {
        double x = px + 6, y = py + offsets[k];
        int clear = 1;
        for (int i = 0; i < n && clear; i++)
            clear = !(fabs(placed[i].y - y) < 13 && x < placed[i].x + 7.0 * (double)placed[i].chars &&
                      placed[i].x < x + 7.0 * (double)chars);
        if (clear) return y;
    }
    return py - 6;
}

/* A tick's value as printed: stepping by a float step lands a hair off zero ("-0", "1e-17"). */
static double tick_label(double v, double step) { return fabs(v) < step * 1e-6 ? 0 : v; }

int mn_chart_write_svg(const char *path, const mn_chart_spec *spec, const mn_chart_series *series, int n_series) {
    label_box placed[MAX_LABELS];
    int n_placed = 0;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int s = 0; s < n_series; s++)
        for (int i = 0; i < series[s].n; i++) {
            double y = series[s].points[i].y;
            if (spec->log_y && !(y > 0)) continue;
            x0 = fmin(x0, series[s].points[i].x);
            x1 = fmax(x1, series[s].points[i].x);
            y0 = fmin(y0, spec->log_y ? log10(y) : y);
            y1 = fmax(y1, spec->log_y ? log10(y) : y);
        }
    if (!isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (x1 == x0) x0 -= 0.5, x1 += 0.5;
    if (y1 == y0) y0 -= 0.5, y1 += 0.5;
    double xpad = (x1 - x0) * 0.06, ypad = (y1 - y0) * 0.08;
    x0 -= xpad, x1 += xpad, y0 -= ypad, y1 += ypad;
    if (!spec->log_y && y0 < 0 && y1 - ypad >= 0 && y0 + ypad >= 0) y0 = 0;
    const double pw = WIDTH - LEFT - RIGHT, ph = HEIGHT - TOP - BOTTOM;
#define PX(x) (LEFT + ((x) - x0) / (x1 - x0) * pw)
#define PY(y) (TOP + ph - ((spec->log_y ? log10(y) : (y)) - y0) / (y1 - y0) * ph)
    text t = {0};
    put(&t, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
            "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", WIDTH, HEIGHT);
    put(&t, "<text x=\"%d\" y=\"28\" font-size=\"16\" font-weight=\"bold\">", LEFT);
    put_escaped(&t, spec->title ? spec->title : "");
    if (spec->subtitle) {
        put(&t, "</text>\n<text x=\"%d\" y=\"44\" font-size=\"11\" fill=\"#444\">", LEFT);
        put_escaped(&t, spec->subtitle);
    }
    put(&t, "</text>\n<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#444\"/>\n", LEFT,
        TOP, pw, ph);
    double xs = tick_step(x1 - x0);
    for (double v = ceil(x0 / xs) * xs; v <= x1; v += xs)
        put(&t, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#eee\"/><text x=\"%.1f\" y=\"%.0f\" "
                "text-anchor=\"middle\">%g</text>\n",
            PX(v), TOP, PX(v), TOP + ph, PX(v), TOP + ph + 18, tick_label(v, xs));
    if (spec->log_y) {
        for (double e = floor(y0); e <= ceil(y1); e++)
            for (int k = 1; k <= 5; k += k == 1 ? 1 : 3) { /* 1, 2, 5 */
                double v = k * pow(10, e);
                if (log10(v) < y0 || log10(v) > y1) continue;
                put(&t, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#eee\"/><text x=\"%d\" y=\"%.1f\" "
                        "text-anchor=\"end\">%g</text>\n",
                    LEFT, PY(v), LEFT + pw, PY(v), LEFT - 6, PY(v) + 4, v);
            }
    } else {
        double ys = tick_step(y1 - y0);
        for (double v = ceil(y0 / ys) * ys; v <= y1; v += ys)
            put(&t, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#eee\"/><text x=\"%d\" y=\"%.1f\" "
                    "text-anchor=\"end\">%g</text>\n",
                LEFT, PY(v), LEFT + pw, PY(v), LEFT - 6, PY(v) + 4, tick_label(v, ys));
    }
    put(&t, "<text x=\"%.0f\" y=\"%d\" text-anchor=\"middle\">", LEFT + pw / 2, HEIGHT - 15);
    put_escaped(&t, spec->x_label ? spec->x_label : "");
    put(&t, "</text>\n<text transform=\"translate(18,%.0f) rotate(-90)\" text-anchor=\"middle\">", TOP + ph / 2);
    put_escaped(&t, spec->y_label ? spec->y_label : "");
    put(&t, "</text>\n");
    for (int s = 0; s < n_series; s++) {
        const mn_chart_series *se = &series[s];
        const char *color = palette[s % 6];
        if (se->line) {
            put(&t, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", color);
            for (int i = 0; i < se->n; i++)
                if (!spec->log_y || se->points[i].y > 0) put(&t, "%.1f,%.1f ", PX(se->points[i].x), PY(se->points[i].y));
            put(&t, "\"/>\n");
        }
        for (int i = 0; i < se->n && !se->line; i++) {
            if (spec->log_y && !(se->points[i].y > 0)) continue;
            double px = PX(se->points[i].x), py = PY(se->points[i].y);
            put(&t, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", px, py, color);
            if (se->labels && se->points[i].label) {
                double ly = label_y(placed, n_placed, px, py, strlen(se->points[i].label));
                if (n_placed < MAX_LABELS) placed[n_placed++] = (label_box){px + 6, ly, strlen(se->points[i].label)};
                put(&t, "<text x=\"%.1f\" y=\"%.1f\">", px + 6, ly);
                put_escaped(&t, se->points[i].label);
                put(&t, "</text>\n");
            }
        }
        if (se->name) {
            put(&t, "<rect x=\"%.0f\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%.0f\" y=\"%d\">",
                LEFT + pw - 180, TOP + 10 + 16 * s, color, LEFT + pw - 165, TOP + 19 + 16 * s);
            put_escaped(&t, se->name);
            put(&t, "</text>\n");
        }
    }
    put(&t, "</svg>\n");
#undef PX
#undef PY
    int rc = t.failed ? mn_fail("%s: out of memory drawing the chart", path) : mn_out_write_whole(path, t.buf, t.len);
    free(t.buf);
    return rc;
}
