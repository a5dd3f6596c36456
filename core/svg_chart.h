/* Small SVG charts for reports: labelled points (compare: size vs quality) and lines (loss
 * curves), with linear or log axes, written atomically. No dependencies. */
#ifndef MN_CORE_SVG_CHART_H
#define MN_CORE_SVG_CHART_H

#include <stdbool.h>

typedef struct {
    double x, y;
    const char *label; /* drawn next to the point when the series has labels */
} mn_chart_point;

typedef struct {
    const char *name; /* legend entry; NULL for none */
    const mn_chart_point *points;
    int n;
    bool line;   /* join the points */
    bool labels; /* print each point's label */
} mn_chart_series;

typedef struct {
    const char *title;
    const char *subtitle; /* a smaller line under the title; NULL for none */
    const char *x_label, *y_label;
    bool log_y;
} mn_chart_spec;

int mn_chart_write_svg(const char *path, const mn_chart_spec *spec, const mn_chart_series *series, int n_series);

#endif
