/* minnow's counterpart of `llama-peer logits`: runs MODEL on a token sequence and writes
 * n_tokens × n_vocab float32 logits (every position), for comparison with llama.cpp.
 *   dump_logits MODEL --ids 1,2,3 -o OUT.f32 [--tokenizer FILE] [--threads N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/out_file.h"
#include "core/threads.h"
#include "model/forward.h"

int main(int argc, char **argv) {
    mn_blas_select_core(argv);
    const char *model_path = NULL, *ids_text = NULL, *out = NULL, *tokenizer = NULL;
    int threads = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--ids") && i + 1 < argc) ids_text = argv[++i];
        else if (!strcmp(argv[i], "-o") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) tokenizer = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!model_path) model_path = argv[i];
        else {
            fprintf(stderr, "dump_logits: unexpected argument %s\n", argv[i]);
            return 2;
        }
    }
    if (!model_path || !ids_text || !out) {
        fprintf(stderr, "usage: dump_logits MODEL --ids 1,2,3 -o OUT.f32 [--tokenizer F] [--threads N]\n");
        return 2;
    }
    mn_set_threads(threads);
    int n = 1;
    for (const char *p = ids_text; *p; p++) n += *p == ',';
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    char *end;
    const char *p = ids_text;
    for (int i = 0; i < n; i++) {
        ids[i] = (int32_t)strtol(p, &end, 10);
        p = *end == ',' ? end + 1 : end;
    }
    mn_load_options opt = {.tokenizer_path = tokenizer, .skip_tokenizer = tokenizer == NULL};
    mn_model *m = mn_model_load(model_path, &opt);
    mn_forward *f = m ? mn_forward_new(m, n) : NULL;
    float *logits = m ? malloc((size_t)n * (size_t)m->hp.n_vocab * sizeof(float)) : NULL;
    int rc = f && logits ? mn_forward_logits(f, ids, n, 0, logits) : -1;
    if (rc == 0) rc = mn_out_write_whole(out, logits, (size_t)n * (size_t)m->hp.n_vocab * sizeof(float));
    if (rc != 0) fprintf(stderr, "dump_logits: %s\n", mn_last_error());
    free(logits);
    free(ids);
    mn_forward_free(f);
    mn_model_free(m);
    return rc == 0 ? 0 : 1;
}
