/* Compares the tensors of two GGUF files (names, types, shapes, bytes); exit 1 and one line
 * per difference when they differ. Usage: gguf_diff A.gguf B.gguf */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "formats/gguf.h"

int main(int argc, char **argv) {
    mn_gguf a, b;
    if (argc != 3) {
        fprintf(stderr, "usage: gguf_diff A.gguf B.gguf\n");
        return 2;
    }
    if (mn_gguf_open(argv[1], &a) || mn_gguf_open(argv[2], &b)) {
        fprintf(stderr, "gguf_diff: %s\n", mn_last_error());
        return 2;
    }
    int diff = a.n_tensors != b.n_tensors;
    if (diff) printf("tensor counts differ: %llu vs %llu\n", (unsigned long long)a.n_tensors, (unsigned long long)b.n_tensors);
    for (uint64_t i = 0; i < a.n_tensors; i++) {
        const mn_tensor *t = &a.tensors[i], *u = mn_gguf_tensor(&b, t->name);
        if (!u) printf("%s: only in %s\n", t->name, argv[1]);
        else if (u->type != t->type || memcmp(u->ne, t->ne, sizeof t->ne))
            printf("%s: %s vs %s\n", t->name, mn_dtype_name(t->type), mn_dtype_name(u->type));
        else if (memcmp(u->data, t->data, t->nbytes)) printf("%s: bytes differ\n", t->name);
        else continue;
        diff = 1;
    }
    mn_gguf_close(&a);
    mn_gguf_close(&b);
    return diff;
}
