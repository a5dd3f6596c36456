/* Prints minnow's token ids for a file, one per line, the way llama-peer's tokenize does:
 * one trailing newline dropped, BOS/EOS as the vocabulary says unless --no-bos.
 * Usage: tokenize_file TOKENIZER FILE [--no-bos] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "text/tokenizer.h"

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "--no-bos"))) {
        fprintf(stderr, "usage: %s TOKENIZER FILE [--no-bos]\n", argv[0]);
        return 2;
    }
    size_t len;
    char *text = mn_read_file(argv[2], &len);
    mn_tokenizer *t = text ? mn_tokenizer_load(argv[1]) : NULL;
    mn_tokens ids = {0};
    if (!t) {
        fprintf(stderr, "%s\n", mn_last_error());
        free(text);
        return 1;
    }
    if (len > 0 && text[len - 1] == '\n') len--;
    int rc = mn_tokenize(t, text, len, argc < 4, &ids);
    for (size_t i = 0; rc == 0 && i < ids.n; i++) printf("%d\n", ids.ids[i]);
    if (rc) fprintf(stderr, "%s\n", mn_last_error());
    mn_tokens_free(&ids);
    mn_tokenizer_free(t);
    free(text);
    return rc ? 1 : 0;
}
