/* libFuzzer target: config.json, as mn_hf_config_read reads it. An accepted config has the
 * invariants the model loader relies on, and writing it back gives the same config. */
#include <math.h>

#include "formats/hf_config.h"
#include "tests/fuzz/fuzz.h"

static int same_double(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mn_clear_error();
    const char *path = fz_write("config.json", data, size);
    mn_hf_config c;
    if (mn_hf_config_read(path, &c) != 0) {
        fz_check_failure_reported();
        return 0;
    }
    FZ_CHECK(c.hidden_size > 0 && c.intermediate_size > 0 && c.num_hidden_layers > 0 && c.vocab_size > 0);
    FZ_CHECK(c.num_attention_heads > 0 && c.num_key_value_heads > 0 && c.head_dim > 0);
    FZ_CHECK(c.num_attention_heads % c.num_key_value_heads == 0 && c.head_dim % 2 == 0);
    FZ_CHECK(c.rms_norm_eps > 0 && c.rope_theta > 0);
    FZ_CHECK(memchr(c.model_type, 0, sizeof c.model_type) && memchr(c.architecture, 0, sizeof c.architecture));

    /* The writer's output reads back as the same configuration. */
    char out[PATH_MAX];
    snprintf(out, sizeof out, "%s", fz_path("config_out.json"));
    FZ_CHECK(mn_hf_config_write(out, &c) == 0);
    mn_hf_config r;
    int rc = mn_hf_config_read(out, &r);
    unlink(out);
    if (rc != 0) fprintf(stderr, "re-reading the written config failed: %s\n", mn_last_error());
    FZ_CHECK(rc == 0);
    FZ_CHECK(!strcmp(c.model_type, r.model_type) && !strcmp(c.architecture, r.architecture));
    FZ_CHECK(c.hidden_size == r.hidden_size && c.intermediate_size == r.intermediate_size);
    FZ_CHECK(c.num_hidden_layers == r.num_hidden_layers && c.num_attention_heads == r.num_attention_heads);
    FZ_CHECK(c.num_key_value_heads == r.num_key_value_heads && c.head_dim == r.head_dim);
    FZ_CHECK(c.vocab_size == r.vocab_size && c.max_position_embeddings == r.max_position_embeddings);
    FZ_CHECK(same_double(c.rms_norm_eps, r.rms_norm_eps) && same_double(c.rope_theta, r.rope_theta));
    FZ_CHECK(c.tie_word_embeddings == r.tie_word_embeddings);
    FZ_CHECK(c.bos_token_id == r.bos_token_id && c.eos_token_id == r.eos_token_id);
    FZ_CHECK(!strcmp(c.rope_scaling_type, r.rope_scaling_type));
    FZ_CHECK(same_double(c.rope_factor, r.rope_factor));
    FZ_CHECK(same_double(c.rope_low_freq_factor, r.rope_low_freq_factor));
    FZ_CHECK(same_double(c.rope_high_freq_factor, r.rope_high_freq_factor));
    FZ_CHECK(c.rope_original_max_positions == r.rope_original_max_positions);
    return 0;
}
