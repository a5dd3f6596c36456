/* The loss curve of a run as an SVG (core/svg_chart.h): the per-step loss, a moving average
 * over it, and the KL term when it differs from the loss. */
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "core/svg_chart.h"
#include "distill/distill_internal.h"

/* A centred moving average over `window` steps (shorter at the ends), so the smoothed curve
 * does not lag behind the raw one. */
static void moving_average(const double *y, int64_t n, int window, mn_chart_point *out) {
    double sum = 0;
    int64_t a = 0, b = 0; /* the window [a, b) */
    for (int64_t i = 0; i < n; i++) {
        const int64_t lo = i - window / 2 > 0 ? i - window / 2 : 0;
        const int64_t hi = i + window / 2 + 1 < n ? i + window / 2 + 1 : n;
        for (; b < hi; b++) sum += y[b];
        for (; a < lo; a++) sum -= y[a];
        out[i] = (mn_chart_point){(double)(i + 1), sum / (double)(hi - lo), NULL};
    }
}

int distill_write_svg(const char *path, const distill_state *s, const char *title, const char *subtitle) {
    const int64_t n = s->step;
    const bool show_kl = s->cfg.alpha_ce > 0 || s->cfg.temperature != 1;
    const int window = n >= 20 ? (int)(n / 20) : 1;
    mn_chart_point *pts = malloc((size_t)(3 * n + 1) * sizeof *pts);
    if (!pts) return mn_fail("%s: out of memory", path);
    mn_chart_point *raw = pts, *avg = pts + n, *kl = pts + 2 * n;
    for (int64_t i = 0; i < n; i++) raw[i] = (mn_chart_point){(double)(i + 1), s->loss[i], NULL};
    moving_average(s->loss, n, window, avg);
    moving_average(s->kl, n, window, kl);

    char avg_name[64];
    snprintf(avg_name, sizeof avg_name, "loss, moving average of %d", window);
    mn_chart_series series[3] = {{"loss per step", raw, (int)n, true, false}};
    int n_series = 1;
    if (window > 1) series[n_series++] = (mn_chart_series){avg_name, avg, (int)n, true, false};
    if (show_kl) series[n_series++] = (mn_chart_series){"KL(teacher || student) at T", kl, (int)n, true, false};
    const mn_chart_spec spec = {title, subtitle, "optimizer step", "nats per token", false};
    int rc = mn_chart_write_svg(path, &spec, series, n_series);
    free(pts);
    return rc;
}
