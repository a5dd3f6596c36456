/* Table-driven option parsing shared by the subcommands: "--name value", "--name=value",
 * short aliases, flags, and positional arguments. Usage errors exit with code 2. */
#ifndef MN_CLI_ARGS_H
#define MN_CLI_ARGS_H

#include <stdbool.h>

enum { MN_EXIT_OK = 0, MN_EXIT_ERROR = 1, MN_EXIT_USAGE = 2, MN_EXIT_GATE_FAIL = 3 };

typedef enum { MN_OPT_FLAG, MN_OPT_INT, MN_OPT_DOUBLE, MN_OPT_STRING } mn_opt_kind;

typedef struct {
    const char *name;  /* "--ctx" */
    const char *alias; /* "-o" or NULL */
    mn_opt_kind kind;
    void *value; /* bool*, int*, double*, const char** */
    const char *help;
} mn_opt;

typedef struct {
    const char *name;     /* "eval" */
    const char *synopsis; /* "MODEL --text FILE [options]" */
    const char *summary;  /* one line */
    const mn_opt *opts;   /* terminated by {NULL} */
    int min_positional, max_positional;
} mn_command_spec;

/* Returns -1 when parsing succeeded (positional[] filled, *n_positional set), otherwise the exit
 * code to return: 0 after --help, 2 after a usage error (already printed). */
int mn_parse_args(const mn_command_spec *spec, int argc, char **argv, const char **positional, int *n_positional);
/* Prints "minnow CMD: message" and a pointer to --help; returns MN_EXIT_USAGE. */
int mn_usage_error(const mn_command_spec *spec, const char *fmt, ...);
/* Prints the last recorded error as "minnow: message"; returns MN_EXIT_ERROR. */
int mn_report_error(void);

#endif
