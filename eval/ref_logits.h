/* Saved reference log-probabilities (eval --save-ref / --ref FILE): the scored rows of every
 * chunk as f32 log-softmax, byte-planes shuffled and zstd-compressed per chunk, with a header
 * that ties them to the exact tokens and context they were computed on. Private to eval/. */
#ifndef MN_EVAL_REF_LOGITS_H
#define MN_EVAL_REF_LOGITS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/mapped_file.h"
#include "core/out_file.h"

typedef struct {
    uint32_t n_vocab, ctx, n_chunks, scored;
    char tokens_sha256[65];
} mn_ref_header;

bool mn_ref_file_sniff(const char *path);

typedef struct mn_ref_writer mn_ref_writer;
mn_ref_writer *mn_ref_writer_open(const char *path, const mn_ref_header *h);
int mn_ref_writer_chunk(mn_ref_writer *w, const float *logp, uint64_t n);
int mn_ref_writer_commit(mn_ref_writer *w); /* frees w */
void mn_ref_writer_abort(mn_ref_writer *w);

typedef struct {
    mn_mapped_file file;
    mn_ref_header h;
    uint64_t *offsets; /* of each chunk's frame */
    uint64_t *sizes;
} mn_ref_reader;

int mn_ref_reader_open(const char *path, mn_ref_reader *r);
/* Decompresses chunk c into logp (scored × n_vocab floats). */
int mn_ref_reader_chunk(const mn_ref_reader *r, uint32_t c, float *logp);
void mn_ref_reader_close(mn_ref_reader *r);

#endif
