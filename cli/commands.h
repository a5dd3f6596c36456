/* One entry point per subcommand; each parses its own options (cli/args.h) and returns the
 * process exit code. */
#ifndef MN_CLI_COMMANDS_H
#define MN_CLI_COMMANDS_H

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
/* "41.8 MB" style sizes. */
void cli_format_bytes(double bytes, char *buf, int cap);

#endif
