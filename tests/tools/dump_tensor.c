/* Writes rows of a checkpoint tensor as raw f32, for comparing quantizers on real weights.
 *
 *   dump_tensor MODEL.safetensors TENSOR OUT.f32 [MAX_ROWS]
 *
 * Prints the row length and the number of rows written. */
#include <stdio.h>
#include <stdlib.h>

#include "core/error.h"
#include "formats/block_codec.h"
#include "formats/safetensors.h"

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: dump_tensor MODEL.safetensors TENSOR OUT.f32 [MAX_ROWS]\n");
        return 1;
    }
    mn_safetensors st;
    if (mn_safetensors_open(argv[1], &st)) {
        fprintf(stderr, "dump_tensor: %s\n", mn_last_error());
        return 1;
    }
    const mn_tensor *t = mn_safetensors_find(&st, argv[2]);
    if (!t) {
        fprintf(stderr, "dump_tensor: %s: no tensor %s\n", argv[1], argv[2]);
        return 1;
    }
    int64_t rows = mn_tensor_nrows(t);
    if (argc > 4 && atoll(argv[4]) < rows) rows = atoll(argv[4]);
    const int64_t n = rows * t->ne[0];
    float *x = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    mn_dequantize(t->type, t->data, x, n);
    FILE *f = fopen(argv[3], "wb");
    if (!f || fwrite(x, sizeof(float), (size_t)n, f) != (size_t)n || fclose(f) != 0) {
        fprintf(stderr, "dump_tensor: cannot write %s\n", argv[3]);
        return 1;
    }
    printf("%lld %lld\n", (long long)t->ne[0], (long long)rows);
    free(x);
    mn_safetensors_close(&st);
    return 0;
}
