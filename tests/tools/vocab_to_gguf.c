/* Writes a tokenizer-only GGUF (general.architecture "llama", the vocabulary, no tensors)
 * from any tokenizer source minnow reads, so llama.cpp can tokenize with minnow's vocabulary.
 * Usage: vocab_to_gguf TOKENIZER OUT.gguf */
#include <stdio.h>

#include "core/error.h"
#include "text/tokenizer.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s TOKENIZER OUT.gguf\n", argv[0]);
        return 2;
    }
    mn_tokenizer *t = mn_tokenizer_load(argv[1]);
    int rc = t ? mn_tokenizer_save_gguf(t, argv[2]) : -1;
    if (rc) fprintf(stderr, "%s\n", mn_last_error());
    mn_tokenizer_free(t);
    return rc ? 1 : 0;
}
