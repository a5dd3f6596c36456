/* Writes a tokenizer-only GGUF (general.architecture "llama", the vocabulary, no tensors)
 * from any tokenizer source minnow reads, so llama.cpp can tokenize with minnow's vocabulary.
 * Usage: vocab_to_gguf TOKENIZER OUT.gguf */
#include <stdio.h>

#include "core/error.h"
#include "formats/gguf_writer.h"
#include "text/tokenizer.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s TOKENIZER OUT.gguf\n", argv[0]);
        return 2;
    }
    mn_tokenizer *t = mn_tokenizer_load(argv[1]);
    mn_gguf_writer *w = t ? mn_gguf_writer_new() : NULL;
    int rc = -1;
    if (w) {
        mn_gguf_set_str(w, "general.architecture", "llama");
        mn_vocab_write_gguf(mn_tokenizer_vocab(t), w);
        rc = mn_gguf_begin(w, argv[2]);
        if (rc == 0) rc = mn_gguf_finish(w);
    }
    if (rc) fprintf(stderr, "%s\n", mn_last_error());
    mn_gguf_writer_free(w);
    mn_tokenizer_free(t);
    return rc ? 1 : 0;
}
