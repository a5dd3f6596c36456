/* The Hugging Face files around a tokenizer (tokenizer.json, tokenizer_config.json,
 * config.json, added_tokens.json), read the way llama.cpp's converter reads them. */
#ifndef MN_TEXT_HF_FILES_H
#define MN_TEXT_HF_FILES_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "text/tokenizer.h"

/* Parses a JSON file whose top level is an object; fails naming it otherwise. */
int mn_hf_read_json_file(const char *path, cJSON **out);
/* Parses dir/name, or returns 0 with *out NULL when there is no such file. */
int mn_hf_read_json(const char *dir, const char *name, cJSON **out);

/* Directory part of a file path ("." when there is none); malloc'd. */
char *mn_hf_dirname(const char *path);

/* The converter's test for added tokens that are really control tokens (<|...|> etc.). */
bool mn_hf_looks_special(const char *token);

/* config.json's vocab_size (the converter pads or trims the vocabulary to it), or 0. */
int mn_hf_config_vocab_size(const cJSON *config);

/* Fails (naming source) when a vocabulary of n ids, `defined` of them given by the files, would
 * be mostly filler tokens: ids past the defined ones are filled as llama.cpp's converter fills
 * them (config.json's vocab_size pads a few hundred), but a corrupt id or vocab_size in a
 * small file must not cost gigabytes of fillers. */
int mn_hf_check_fillers(int32_t n, int32_t defined, const char *source);

/* A JSON number that is a token id (integral, 0 <= id < MN_MAX_TOKENS). */
bool mn_hf_token_id(const cJSON *item, int32_t *id);

/* The converter's pre-normalization of user-defined tokens: U+2581 back to a space, in place. */
void mn_hf_unescape_spaces(char *s);

/* The text of a special-token entry: a string or an object with "content"; NULL otherwise. */
const char *mn_hf_token_text(const cJSON *entry);

/* gguf-py's SpecialVocab: sets bos/eos/unk/pad ids and add_bos/add_eos on v (leaving what
 * the files do not say) from tokenizer.json's post-processor and added tokens,
 * tokenizer_config.json and config.json; any of them may be NULL. */
int mn_hf_special_vocab(mn_vocab *v, const cJSON *tokenizer, const cJSON *tokenizer_config, const cJSON *config,
                        const char *source);

#endif
