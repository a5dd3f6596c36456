/* Prints the byte offset of a tensor's data inside its file (safetensors or GGUF), so tests
 * can corrupt one tensor on purpose. Usage: tensor_offset FILE TENSOR */
#include <stdio.h>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: tensor_offset FILE TENSOR\n");
        return 2;
    }
    const void *base = NULL, *data = NULL;
    mn_gguf g;
    mn_safetensors st;
    int gguf = mn_gguf_sniff(argv[1]);
    if (gguf ? mn_gguf_open(argv[1], &g) : mn_safetensors_open(argv[1], &st)) {
        fprintf(stderr, "tensor_offset: %s\n", mn_last_error());
        return 1;
    }
    const mn_tensor *t = gguf ? mn_gguf_tensor(&g, argv[2]) : mn_safetensors_find(&st, argv[2]);
    base = gguf ? g.file.data : st.files[0].data;
    if (t) data = t->data;
    if (t) printf("%lld\n", (long long)((const char *)data - (const char *)base));
    else fprintf(stderr, "tensor_offset: no tensor %s in %s\n", argv[2], argv[1]);
    if (gguf) mn_gguf_close(&g);
    else mn_safetensors_close(&st);
    return t ? 0 : 1;
}
