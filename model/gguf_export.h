/* Writing a model as a GGUF file llama.cpp loads unchanged: its architecture metadata, its
 * tensor names, its Q/K row order for the llama architecture (rotary pairs interleaved), the
 * full tokenizer metadata and a general.* provenance block. Tensors stream through one block
 * of rows at a time; the caller's plan decides each tensor's type and how rows are encoded,
 * so quantizers plug in without the exporter knowing them. */
#ifndef MN_MODEL_GGUF_EXPORT_H
#define MN_MODEL_GGUF_EXPORT_H

#include "formats/gguf_writer.h"
#include "model/model.h"

typedef struct {
    const char *name; /* llama.cpp tensor name */
    const mn_tensor *src;
    int layer; /* -1 for per-model tensors */
    mn_weight_role role;
} mn_export_tensor;

typedef struct {
    /* Output type of each tensor; NULL keeps 2-D weights as stored and writes norms, biases
     * and other 1-D tensors as f32 (what llama.cpp expects). */
    mn_dtype (*tensor_type)(void *ctx, const mn_export_tensor *t);
    /* Encodes n rows (already widened to f32, in output row order, starting at row0) into dst.
     * NULL handles f32/f16/bf16; block types need it. */
    int (*encode_rows)(void *ctx, const mn_export_tensor *t, mn_dtype type, const float *rows, int64_t row0,
                       int64_t n, void *dst);
    /* Called before a tensor's rows are encoded (and after its last row), e.g. to prepare a
     * whole-tensor quantization. Either may be NULL. */
    int (*begin_tensor)(void *ctx, const mn_export_tensor *t, mn_dtype type);
    int (*end_tensor)(void *ctx, const mn_export_tensor *t);
    /* Adds or overrides metadata (e.g. minnow.quant.*), called after the standard keys. */
    void (*add_metadata)(void *ctx, mn_gguf_writer *w);
    void *ctx;
    /* Label for the progress bar ("convert", "quantize"); NULL for no progress. */
    const char *progress_label;
} mn_export_plan;

/* plan may be NULL (a plain conversion keeping stored types). */
int mn_model_write_gguf(const mn_model *m, const char *path, const mn_export_plan *plan);

/* A plain conversion: weight matrices as f32, f16 or bf16 (keep_stored: as stored), 1-D
 * tensors as f32. */
int mn_model_convert_gguf(const mn_model *m, const char *path, mn_dtype type, bool keep_stored, bool progress);

/* llama.cpp's general.file_type for a predominant tensor type (e.g. MOSTLY_Q4_K_M = 15 is
 * chosen by the caller via add_metadata; this gives the plain per-type value). */
int mn_llama_ftype_for(mn_dtype t);

/* Source row of output row `row` of a Q or K weight (or bias) when the model's rotary layout
 * differs from the target layout; identity otherwise. */
int64_t mn_rope_source_row(int64_t row, int head_dim, mn_rope_layout from, mn_rope_layout to);

/* The rotary layout GGUF uses for an architecture. */
mn_rope_layout mn_gguf_rope_layout(mn_arch arch);

#endif
