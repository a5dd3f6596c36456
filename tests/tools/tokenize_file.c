/* Prints minnow's token ids for a file, one per line, the way llama-peer's tokenize does:
 * one trailing newline dropped, BOS/EOS as the vocabulary says unless --no-bos. With --list,
 * every file named in LIST (one path per line) in turn, each followed by a line "--", so one
 * vocabulary load serves many texts.
 * Usage: tokenize_file TOKENIZER (FILE | --list LIST) [--no-bos] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "text/tokenizer.h"

static int print_ids(const mn_tokenizer *t, const char *path, int add_bos, int separator) {
    size_t len;
    char *text = mn_read_file(path, &len);
    if (!text) return -1;
    if (len > 0 && text[len - 1] == '\n') len--;
    mn_tokens ids = {0};
    int rc = mn_tokenize(t, text, len, add_bos, &ids);
    for (size_t i = 0; rc == 0 && i < ids.n; i++) printf("%d\n", ids.ids[i]);
    if (rc == 0 && separator) printf("--\n");
    mn_tokens_free(&ids);
    free(text);
    return rc;
}

int main(int argc, char **argv) {
    const int listed = argc >= 4 && !strcmp(argv[2], "--list");
    const int n_args = listed ? 4 : 3;
    if (argc < n_args || argc > n_args + 1 || (argc == n_args + 1 && strcmp(argv[n_args], "--no-bos"))) {
        fprintf(stderr, "usage: %s TOKENIZER (FILE | --list LIST) [--no-bos]\n", argv[0]);
        return 2;
    }
    const int add_bos = argc == n_args;
    mn_tokenizer *t = mn_tokenizer_load(argv[1]);
    int rc = t ? 0 : -1;
    if (t && !listed) rc = print_ids(t, argv[2], add_bos, 0);
    size_t list_len;
    char *list = t && listed ? mn_read_file(argv[3], &list_len) : NULL;
    if (t && listed && !list) rc = -1;
    for (char *line = list ? strtok(list, "\n") : NULL; line && rc == 0; line = strtok(NULL, "\n"))
        rc = print_ids(t, line, add_bos, 1);
    if (rc) fprintf(stderr, "%s\n", mn_last_error());
    free(list);
    mn_tokenizer_free(t);
    return rc ? 1 : 0;
}
