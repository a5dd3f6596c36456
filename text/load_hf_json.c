/* Hugging Face tokenizer.json into a GGUF-style vocabulary, choosing the way llama.cpp's
 * converter does for Llama-family models: a BPE model with byte fallback and a Sequence
 * decoder is SentencePiece in disguise (Llama-2, Mistral) and becomes an SPM vocabulary
 * (LlamaHfVocab); any other BPE model is byte-level BPE (get_vocab_base), whose regex
 * pre-tokenizer must be one llama.cpp implements. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/hf_files.h"
#include "text/tokenizer_internal.h"

typedef struct {
    const char *path;
    const cJSON *tok, *tok_config, *config, *model;
    /* model.vocab by id (NULL: id unused) and the added tokens by id */
    const char **text;
    const cJSON **added;
    int32_t n;      /* ids 0..n-1 seen in vocab or added tokens */
    int32_t n_base; /* entries in model.vocab */
    int32_t max_base; /* highest id in model.vocab */
    int32_t n_defined; /* entries in model.vocab and added_tokens */
} json_vocab;

/* Collects model.vocab and added_tokens by id; the added tokens' text wins, as in the
 * vocabulary transformers reports. */
static int index_tokens(json_vocab *j) {
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(j->model, "vocab");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(j->tok, "added_tokens");
    if (!cJSON_IsObject(vocab)) return mn_fail("%s: model.vocab is not an object", j->path);
    const cJSON *e;
    int32_t n = 0, id;
    cJSON_ArrayForEach(e, vocab) {
        if (!mn_hf_token_id(e, &id)) return mn_fail("%s: model.vocab entry \"%.80s\" has no valid id", j->path, e->string);
        if (id >= n) n = id + 1;
        if (id > j->max_base) j->max_base = id;
        j->n_base++;
    }
    int32_t n_added = 0;
    cJSON_ArrayForEach(e, added) {
        if (!mn_hf_token_id(cJSON_GetObjectItemCaseSensitive(e, "id"), &id) ||
            !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "content")))
            return mn_fail("%s: an added_tokens entry has no valid id or content", j->path);
        if (id >= n) n = id + 1;
        n_added++;
    }
    if (n == 0) return mn_fail("%s: empty vocabulary", j->path);
    if (mn_hf_check_fillers(n, j->n_base + n_added, j->path)) return -1;
    j->n_defined = j->n_base + n_added;
    j->n = n;
    j->text = calloc((size_t)n, sizeof *j->text);
    j->added = calloc((size_t)n, sizeof *j->added);
    if (!j->text || !j->added) return mn_fail("%s: out of memory", j->path);
    cJSON_ArrayForEach(e, vocab) {
        if (j->text[e->valueint]) return mn_fail("%s: model.vocab gives id %d twice", j->path, e->valueint);
        j->text[e->valueint] = e->string;
    }
    cJSON_ArrayForEach(e, added) {
        id = cJSON_GetObjectItemCaseSensitive(e, "id")->valueint;
        j->added[id] = e;
        j->text[id] = cJSON_GetObjectItemCaseSensitive(e, "content")->valuestring;
    }
    return 0;
}

static bool is_added_special(const cJSON *added) {
    return added && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(added, "special"));
}

/* Appends part to dst, spaces written as U+0120 like the converter does. */
static size_t append_part(char *dst, const char *part) {
    size_t o = 0;
    for (; *part; part++) {
        if (*part == ' ') {
            dst[o++] = '\xc4';
            dst[o++] = '\xa0';
        } else {
            dst[o++] = *part;
        }
    }
    return o;
}

/* model.merges as "left right" strings; the list form (transformers >= 4.45) may hold
 * spaces. */
static int read_merges(const json_vocab *j, char ***out, int32_t *n_out) {
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(j->model, "merges");
    *out = NULL;
    *n_out = 0;
    if (!merges) return 0;
    if (!cJSON_IsArray(merges)) return mn_fail("%s: model.merges is not an array", j->path);
    int n = cJSON_GetArraySize(merges);
    char **m = calloc(n ? (size_t)n : 1, sizeof *m);
    if (!m) return mn_fail("%s: out of memory", j->path);
    *out = m;
    const cJSON *e;
    cJSON_ArrayForEach(e, merges) {
        int32_t i = (*n_out)++;
        if (cJSON_IsString(e)) {
            m[i] = strdup(e->valuestring);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) &&
                   cJSON_IsString(e->child->next)) {
            const char *l = e->child->valuestring, *r = e->child->next->valuestring;
            m[i] = malloc(2 * (strlen(l) + strlen(r)) + 2);
            if (m[i]) {
                size_t o = append_part(m[i], l);
                m[i][o++] = ' ';
                o += append_part(m[i] + o, r);
                m[i][o] = 0;
            }
        } else {
            return mn_fail("%s: merge %d is neither \"a b\" nor [\"a\", \"b\"]", j->path, (int)i);
        }
        if (!m[i]) return mn_fail("%s: out of memory", j->path);
    }
    return 0;
}

static void free_merges(char **m, int32_t n) {
    for (int32_t i = 0; i < n; i++) free(m[i]);
    free(m);
}

/* Token texts the Hugging Face tokenizer treats as special: those tokenizer_config.json
 * names, and added tokens flagged special. */
static bool is_special_text(const json_vocab *j, const char *text) {
    static const char *const keys[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                       "pad_token", "cls_token", "mask_token"};
    for (int k = 0; k < 7; k++) {
        const char *s = mn_hf_token_text(cJSON_GetObjectItemCaseSensitive(j->tok_config, keys[k]));
        if (s && !strcmp(s, text)) return true;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j->tok_config, "additional_special_tokens")) {
        const char *s = mn_hf_token_text(e);
        if (s && !strcmp(s, text)) return true;
    }
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j->tok, "added_tokens")) {
        if (is_added_special(e) && !strcmp(cJSON_GetObjectItemCaseSensitive(e, "content")->valuestring, text))
            return true;
    }
    return false;
}

/* llama.cpp's converter scores every token -1000 here, which leaves its score-driven SPM
 * encoder to merge leftmost-first. Scores from the merge ranks instead reproduce the
 * tokenizer's own merge order: a token scores minus the rank of the first merge forming it,
 * and tokens no merge forms (characters, bytes, specials) score 0 as in tokenizer.model. */
static int scores_from_merges(mn_vocab *v, char **merges, int32_t n_merges, const char *path) {
    mn_strmap ids;
    bool *seen = calloc((size_t)v->n_tokens, 1);
    char *buf = NULL;
    size_t cap = 0;
    if (!seen || mn_strmap_init(&ids, (size_t)v->n_tokens)) {
        free(seen);
        return mn_fail("%s: out of memory", path);
    }
    int rc = 0;
    for (int32_t i = 0; i < v->n_tokens && rc == 0; i++)
        if (mn_strmap_put(&ids, v->tokens[i], strlen(v->tokens[i]), "", 0, i, true)) rc = mn_fail("%s: out of memory", path);
    for (int32_t r = 0; r < n_merges && rc == 0; r++) {
        const char *m = merges[r], *sp = mn_merge_split(m);
        if (!sp) {
            rc = mn_fail("%s: merge %d is not two tokens separated by a space", path, (int)r);
            break;
        }
        size_t n = strlen(m) - 1;
        if (n + 1 > cap) {
            char *b = realloc(buf, n + 1);
            if (!b) {
                rc = mn_fail("%s: out of memory", path);
                break;
            }
            buf = b;
            cap = n + 1;
        }
        memcpy(buf, m, (size_t)(sp - m));
        memcpy(buf + (sp - m), sp + 1, strlen(sp + 1));
        int32_t id = mn_strmap_get(&ids, buf, n, "", 0);
        if (id >= 0 && !seen[id]) {
            seen[id] = true;
            v->scores[id] = -(float)r;
        }
    }
    free(buf);
    free(seen);
    mn_strmap_free(&ids);
    return rc;
}

static int build_spm(mn_vocab *v, const json_vocab *j) {
    if (j->n_base != j->max_base + 1)
        return mn_fail("%s: model.vocab ids are not 0..%d", j->path, (int)j->n_base - 1);
    for (int32_t i = 0; i < j->n; i++)
        if (!j->text[i]) return mn_fail("%s: no token has id %d", j->path, (int)i);
    if (mn_vocab_alloc(v, MN_VOCAB_SPM, j->n, j->path)) return -1;
    for (int32_t i = 0; i < j->n; i++) {
        if (mn_vocab_set_token(v, i, j->text[i], strlen(j->text[i]), j->path)) return -1;
        bool special = is_special_text(j, j->text[i]);
        if (i >= j->n_base)
            v->token_types[i] = special ? MN_TOKEN_CONTROL : MN_TOKEN_USER_DEFINED;
        else if (mn_byte_token_value(j->text[i], strlen(j->text[i])) >= 0)
            v->token_types[i] = MN_TOKEN_BYTE;
        else if (special)
            v->token_types[i] = MN_TOKEN_CONTROL;
    }
    char **merges;
    int32_t n_merges;
    int rc = read_merges(j, &merges, &n_merges);
    if (rc == 0) rc = scores_from_merges(v, merges, n_merges, j->path);
    free_merges(merges, n_merges);
    if (rc) return -1;
    /* llama.cpp's defaults for SPM vocabularies, unless the files say otherwise. */
    v->unk_id = 0;
    v->bos_id = j->n > 1 ? 1 : -1;
    v->eos_id = j->n > 2 ? 2 : -1;
    v->add_bos = v->add_space_prefix = true;
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(j->tok_config, "add_prefix_space");
    if (cJSON_IsBool(prefix)) v->add_space_prefix = cJSON_IsTrue(prefix);
    return 0;
}

/* The pre-tokenizer llama.cpp would pick, recognised from tokenizer.json itself (the
 * converter hashes sample encodings instead): a Split by a known regex then ByteLevel
 * without its own regex, or ByteLevel alone with GPT-2's built-in regex. */
static const char *detect_pre(const json_vocab *j) {
    const cJSON *pt = cJSON_GetObjectItemCaseSensitive(j->tok, "pre_tokenizer");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(pt, "type");
    if (!cJSON_IsString(type)) {
        mn_fail("%s: byte-level BPE without a pre_tokenizer, which llama.cpp cannot reproduce", j->path);
        return NULL;
    }
    const cJSON *list = !strcmp(type->valuestring, "Sequence") ? cJSON_GetObjectItemCaseSensitive(pt, "pretokenizers") : NULL;
    const cJSON *first = cJSON_IsArray(list) ? list->child : pt;
    const cJSON *second = first ? first->next : NULL;
    const char *t1 = first ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(first, "type")) : NULL;
    const char *t2 = second ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(second, "type")) : NULL;
    if (t1 && !strcmp(t1, "ByteLevel") && !second) {
        if (!cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(first, "use_regex"))) return "gpt-2";
    } else if (t1 && t2 && !strcmp(t1, "Split") && !strcmp(t2, "ByteLevel") && !second->next &&
               cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(second, "use_regex"))) {
        const char *re = cJSON_GetStringValue(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(first, "pattern"), "Regex"));
        const char *behavior = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(first, "behavior"));
        const char *name = re ? mn_pretokenizer_name_for_regex(re) : NULL;
        if (name && behavior && !strcmp(behavior, "Isolated") &&
            !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(first, "invert")))
            return name;
        mn_fail("%s: unknown pre-tokenizer: Split regex \"%.300s\" (behavior %s) is not GPT-2's, Llama-3's or "
                "Qwen2's",
                j->path, re ? re : "(none)", behavior ? behavior : "(none)");
        return NULL;
    }
    mn_fail("%s: unknown pre-tokenizer %s (minnow recognises a Split regex followed by ByteLevel, or ByteLevel alone)",
            j->path, type->valuestring);
    return NULL;
}

static int build_bpe(mn_vocab *v, const json_vocab *j) {
    const char *pre = detect_pre(j);
    if (!pre) return -1;
    int32_t n = mn_hf_config_vocab_size(j->config);
    if (n && n < j->n) return mn_fail("%s: token id %d is beyond config.json's vocab_size %d", j->path, (int)j->n - 1, (int)n);
    if (n < j->n) n = j->n;
    if (mn_hf_check_fillers(n, j->n_defined, j->path)) return -1;
    if (mn_vocab_alloc(v, MN_VOCAB_BPE, n, j->path)) return -1;
    snprintf(v->pre, sizeof v->pre, "%s", pre);
    for (int32_t i = 0; i < n; i++) {
        const char *text = i < j->n ? j->text[i] : NULL;
        const cJSON *added = i < j->n ? j->added[i] : NULL;
        if (!text) {
            if (mn_vocab_set_pad(v, i, j->path)) return -1;
            continue;
        }
        if (mn_vocab_set_token(v, i, text, strlen(text), j->path)) return -1;
        if (!added) continue;
        if (is_added_special(added) || mn_hf_looks_special(text)) {
            v->token_types[i] = MN_TOKEN_CONTROL;
            continue;
        }
        mn_hf_unescape_spaces(v->tokens[i]);
        v->token_types[i] = MN_TOKEN_USER_DEFINED;
    }
    if (read_merges(j, &v->merges, &v->n_merges)) return -1;
    v->add_bos = mn_pretokenizer_default_add_bos(pre);
    return 0;
}

mn_tokenizer *mn_tokenizer_from_hf_json(const char *path) {
    json_vocab j = {.path = path};
    cJSON *tok = NULL, *tok_config = NULL, *config = NULL;
    mn_vocab v = {0};
    mn_tokenizer *t = NULL;
    char *dir = mn_hf_dirname(path);
    if (!dir) {
        mn_fail("%s: out of memory", path);
        return NULL;
    }
    if (mn_hf_read_json_file(path, &tok) || mn_hf_read_json(dir, "tokenizer_config.json", &tok_config) || mn_hf_read_json(dir, "config.json", &config))
        goto done;
    j.tok = tok, j.tok_config = tok_config, j.config = config;
    j.model = cJSON_GetObjectItemCaseSensitive(tok, "model");
    const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j.model, "type"));
    if (!type || strcmp(type, "BPE")) {
        mn_fail("%s: tokenizer model type %s is not supported (minnow reads BPE tokenizer.json)", path,
                type ? type : "(missing)");
        goto done;
    }
    if (index_tokens(&j)) goto done;
    const cJSON *fallback = cJSON_GetObjectItemCaseSensitive(j.model, "byte_fallback");
    const char *decoder = cJSON_GetStringValue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(tok, "decoder"), "type"));
    bool spm = cJSON_IsTrue(fallback) && decoder && !strcmp(decoder, "Sequence");
    if ((spm ? build_spm(&v, &j) : build_bpe(&v, &j)) || mn_hf_special_vocab(&v, tok, tok_config, config, path))
        goto done;
    t = mn_tokenizer_build(&v, NULL, path);
done:
    mn_vocab_clear(&v);
    free(j.text);
    free(j.added);
    cJSON_Delete(tok);
    cJSON_Delete(tok_config);
    cJSON_Delete(config);
    free(dir);
    return t;
}
