/* Progress of long work on stderr: a redrawn bar with rate and ETA when stderr is a
 * terminal, otherwise one plain line every few seconds (for CI logs). */
#ifndef MN_CORE_PROGRESS_H
#define MN_CORE_PROGRESS_H

#include <stdint.h>

typedef struct {
    char label[64];
    char unit[16];
    uint64_t total;
    uint64_t done;
    double start;
    double last_draw;
    int tty;
    int active;
} mn_progress;

/* Globally silences progress (--quiet, --json runs that want a clean stderr). */
void mn_progress_set_enabled(int enabled);
void mn_progress_begin(mn_progress *p, const char *label, uint64_t total, const char *unit);
/* `detail` (may be NULL) names the current item, e.g. a tensor or layer. */
void mn_progress_update(mn_progress *p, uint64_t done, const char *detail);
void mn_progress_end(mn_progress *p);

#endif
