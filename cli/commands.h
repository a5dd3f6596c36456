/* One entry point per subcommand; each parses its own options (cli/args.h) and returns the
 * process exit code. */
#ifndef MN_CLI_COMMANDS_H
#define MN_CLI_COMMANDS_H

#include <stdbool.h>

#include "model/model.h"

int cmd_info(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_prune(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_gate(int argc, char **argv);
int cmd_distill(int argc, char **argv);

/* Loads MODEL with an optional tokenizer override, reporting errors; NULL on failure. */
mn_model *cli_load_model(const char *path, const char *tokenizer_path);
/* Whether writing `out` would replace an input (the model, a file minnow reads next to it such
 * as config.json or tokenizer.model, or one of the n_others input paths that follow, any of
 * which may be NULL for an option not given); if so, says so on stderr.
 * core/out_file.c guards the mapped weights of every writer; this adds the small files read and
 * closed during loading, which it cannot know about once they are closed. */
bool cli_refuses_output(const char *out, const char *model, int n_others, ...);
/* "41.8 MB" style sizes. */
void cli_format_bytes(double bytes, char *buf, int cap);

#endif
