#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char error_line[1024];

static void record(const char *fmt, va_list ap) {
    vsnprintf(error_line, sizeof error_line, fmt, ap);
}

int mn_fail(const char *fmt, ...) {
    if (error_line[0]) return -1;
    va_list ap;
    va_start(ap, fmt);
    record(fmt, ap);
    va_end(ap);
    return -1;
}

int mn_fail_override(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    record(fmt, ap);
    va_end(ap);
    return -1;
}

const char *mn_last_error(void) { return error_line[0] ? error_line : "unknown error"; }
int mn_has_error(void) { return error_line[0] != 0; }
void mn_clear_error(void) { error_line[0] = 0; }
