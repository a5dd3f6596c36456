#include "cli/args.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

static void print_help(const mn_command_spec *spec) {
    printf("usage: minnow %s %s\n\n%s\n\noptions:\n", spec->name, spec->synopsis, spec->summary);
    for (const mn_opt *o = spec->opts; o->name; o++) {
        char left[64];
        const char *arg = o->kind == MN_OPT_FLAG ? "" : o->kind == MN_OPT_STRING ? " VALUE" : " N";
        if (o->alias) snprintf(left, sizeof left, "%s, %s%s", o->alias, o->name, arg);
        else snprintf(left, sizeof left, "%s%s", o->name, arg);
        printf("  %-28s %s\n", left, o->help);
    }
    printf("  %-28s %s\n", "-h, --help", "show this help");
}

int mn_usage_error(const mn_command_spec *spec, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "minnow %s: ", spec->name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nrun 'minnow %s --help' for usage\n", spec->name);
    va_end(ap);
    return MN_EXIT_USAGE;
}

int mn_report_error(void) {
    fprintf(stderr, "minnow: %s\n", mn_last_error());
    return MN_EXIT_ERROR;
}

static int set_value(const mn_command_spec *spec, const mn_opt *o, const char *text) {
    char *end;
    errno = 0;
    switch (o->kind) {
    case MN_OPT_INT: {
        long v = strtol(text, &end, 10);
        if (*text == 0 || *end || errno || v < INT_MIN || v > INT_MAX)
            return mn_usage_error(spec, "%s expects an integer, got '%s'", o->name, text);
        *(int *)o->value = (int)v;
        return 0;
    }
    case MN_OPT_DOUBLE: {
        double v = strtod(text, &end);
        if (*text == 0 || *end || errno) return mn_usage_error(spec, "%s expects a number, got '%s'", o->name, text);
        *(double *)o->value = v;
        return 0;
    }
    case MN_OPT_STRING: *(const char **)o->value = text; return 0;
    case MN_OPT_FLAG: *(bool *)o->value = true; return 0;
    }
    return 0;
}

int mn_parse_args(const mn_command_spec *spec, int argc, char **argv, const char **positional, int *n_positional) {
    *n_positional = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            print_help(spec);
            return MN_EXIT_OK;
        }
        if (arg[0] != '-' || !strcmp(arg, "-")) {
            if (*n_positional >= spec->max_positional)
                return mn_usage_error(spec, "unexpected argument '%s'", arg);
            positional[(*n_positional)++] = arg;
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
        const mn_opt *match = NULL;
        for (const mn_opt *o = spec->opts; o->name && !match; o++)
            if ((strlen(o->name) == name_len && !strncmp(o->name, arg, name_len)) ||
                (o->alias && strlen(o->alias) == name_len && !strncmp(o->alias, arg, name_len)))
                match = o;
        if (!match) return mn_usage_error(spec, "unknown option '%.*s'", (int)name_len, arg);
        if (match->kind == MN_OPT_FLAG) {
            if (eq) return mn_usage_error(spec, "%s takes no value", match->name);
            *(bool *)match->value = true;
            continue;
        }
        const char *text = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!text) return mn_usage_error(spec, "%s needs a value", match->name);
        if (set_value(spec, match, text)) return MN_EXIT_USAGE;
    }
    if (*n_positional < spec->min_positional) return mn_usage_error(spec, "missing arguments: %s", spec->synopsis);
    return -1;
}
