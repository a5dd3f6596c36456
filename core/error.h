/* Error reporting for every layer of minnow.
 *
 * A function that fails records one human-readable line (naming the file and what is wrong)
 * with mn_fail() and returns -1 (or NULL). Callers pass the failure up without adding text;
 * the CLI prints the recorded line. The buffer is per thread so worker threads cannot
 * garble each other's messages; the first message recorded since mn_clear_error() wins,
 * because the innermost failure is the one that knows what actually went wrong. */
#ifndef MN_CORE_ERROR_H
#define MN_CORE_ERROR_H

#if defined(__GNUC__)
#define MN_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define MN_PRINTF(a, b)
#endif

/* Records the message (unless one is already recorded) and returns -1. */
int mn_fail(const char *fmt, ...) MN_PRINTF(1, 2);
/* Replaces any recorded message; for callers that know better than the callee. */
int mn_fail_override(const char *fmt, ...) MN_PRINTF(1, 2);
const char *mn_last_error(void);
int mn_has_error(void);
void mn_clear_error(void);

#endif
