#include "core/progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/usage.h"

static int progress_enabled = 1;

void mn_progress_set_enabled(int enabled) { progress_enabled = enabled; }

void mn_progress_begin(mn_progress *p, const char *label, uint64_t total, const char *unit) {
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    snprintf(p->unit, sizeof p->unit, "%s", unit);
    p->total = total;
    p->start = mn_now();
    p->last_draw = p->start;
    p->tty = isatty(STDERR_FILENO);
    p->active = progress_enabled;
}

static void format_duration(double s, char *buf, size_t n) {
    if (s < 0 || s > 1e7) {
        snprintf(buf, n, "--:--");
        return;
    }
    int t = (int)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%02d:%02d", t / 60, t % 60);
}

static void draw(mn_progress *p, const char *detail, int final) {
    double now = mn_now();
    double elapsed = now - p->start;
    double rate = elapsed > 0 ? (double)p->done / elapsed : 0;
    double eta = rate > 0 && p->total >= p->done ? (double)(p->total - p->done) / rate : -1;
    char eta_s[32], el_s[32];
    format_duration(final ? elapsed : eta, eta_s, sizeof eta_s);
    format_duration(elapsed, el_s, sizeof el_s);
    double frac = p->total ? (double)p->done / (double)p->total : 0;
    if (frac > 1) frac = 1;
    if (p->tty) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        fprintf(stderr, "\r\033[K%s [%s] %3.0f%% %llu/%llu %s, %.1f %s/s, %s %s%s%s", p->label, bar,
                frac * 100, (unsigned long long)p->done, (unsigned long long)p->total, p->unit, rate,
                p->unit, final ? "took" : "ETA", eta_s, detail ? "  " : "", detail ? detail : "");
        if (final) fputc('\n', stderr);
    } else {
        fprintf(stderr, "%s: %llu/%llu %s (%.0f%%), %.1f %s/s, elapsed %s, %s%s%s%s\n", p->label,
                (unsigned long long)p->done, (unsigned long long)p->total, p->unit, frac * 100, rate,
                p->unit, el_s, final ? "done" : "ETA ", final ? "" : eta_s, detail ? ", " : "",
                detail ? detail : "");
    }
    fflush(stderr);
    p->last_draw = now;
}

void mn_progress_update(mn_progress *p, uint64_t done, const char *detail) {
    p->done = done;
    if (!p->active) return;
    double now = mn_now();
    double interval = p->tty ? 0.1 : 10.0;
    if (now - p->last_draw >= interval) draw(p, detail, 0);
}

void mn_progress_end(mn_progress *p) {
    if (!p->active) return;
    /* Short jobs off a terminal stay silent rather than log a single 100% line. */
    if (p->tty || mn_now() - p->start >= 10.0) draw(p, NULL, 1);
    p->active = 0;
}
