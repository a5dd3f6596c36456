#include "text/hf_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "text/tokenizer_internal.h"

char *mn_hf_dirname(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, path, n);
    d[n] = 0;
    return d;
}

int mn_hf_read_json_file(const char *path, cJSON **out) {
    *out = NULL;
    size_t size;
    char *text = mn_read_file(path, &size);
    if (!text) return -1;
    cJSON *j = cJSON_ParseWithLength(text, size);
    int rc = 0;
    if (!j) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= text && at <= text + size ? (long)(at - text) : -1;
        rc = mn_fail("%s: invalid JSON near byte %ld", path, off);
    } else if (!cJSON_IsObject(j)) {
        rc = mn_fail("%s: top level is not a JSON object", path);
        cJSON_Delete(j);
        j = NULL;
    }
    free(text);
    *out = j;
    return rc;
}

int mn_hf_read_json(const char *dir, const char *name, cJSON **out) {
    *out = NULL;
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = malloc(n);
    if (!path) return mn_fail("%s/%s: out of memory", dir, name);
    snprintf(path, n, "%s/%s", dir, name);
    int rc = mn_file_exists(path) ? mn_hf_read_json_file(path, out) : 0;
    free(path);
    return rc;
}

static bool starts_ends(const char *s, const char *a, const char *b) {
    size_t n = strlen(s), na = strlen(a), nb = strlen(b);
    return n >= na + nb && !strncmp(s, a, na) && !strcmp(s + n - nb, b);
}

bool mn_hf_looks_special(const char *t) {
    return !strcmp(t, "<pad>") || !strcmp(t, "<mask>") || !strcmp(t, "<2mass>") || !strcmp(t, "[@BOS@]") ||
           starts_ends(t, "<|", "|>") || starts_ends(t, "<｜", "｜>") || starts_ends(t, "<unused", ">");
}

/* Fillers allowed beyond the defined tokens: as many as there are defined ones, and at least this many. */
#define MIN_FILLERS 65536

int mn_hf_check_fillers(int32_t n, int32_t defined, const char *source) {
    int32_t allowed = defined > MIN_FILLERS ? defined : MIN_FILLERS;
    if (n > defined && n - defined > allowed)
        return mn_fail("%s: token ids up to %d but only %d tokens defined (a corrupt id or vocab_size)", source,
                       (int)n - 1, (int)defined);
    return 0;
}

bool mn_hf_token_id(const cJSON *item, int32_t *id) {
    if (!cJSON_IsNumber(item) || item->valuedouble < 0 || item->valuedouble >= MN_MAX_TOKENS ||
        item->valuedouble != (double)item->valueint)
        return false;
    *id = item->valueint;
    return true;
}

int mn_hf_config_vocab_size(const cJSON *config) {
    int32_t n;
    return mn_hf_token_id(cJSON_GetObjectItemCaseSensitive(config, "vocab_size"), &n) ? n : 0;
}

void mn_hf_unescape_spaces(char *s) {
    size_t o = 0;
    for (size_t i = 0; s[i]; i++) {
        if (!strncmp(s + i, "\xe2\x96\x81", 3)) {
            s[o++] = ' ';
            i += 2;
        } else {
            s[o++] = s[i];
        }
    }
    s[o] = 0;
}

const char *mn_hf_token_text(const cJSON *entry) {
    if (cJSON_IsString(entry)) return entry->valuestring;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(entry, "content");
    return cJSON_IsString(c) ? c->valuestring : NULL;
}

enum { BOS, EOS, UNK, PAD, N_SPECIAL };

typedef struct {
    const char *name[N_SPECIAL]; /* token texts tokenizer_config.json (or the template) names */
    const char *cls;
    int32_t id[N_SPECIAL];
    bool add_bos, add_eos, says_add_bos, says_add_eos;
} special;

static const char *string_or_null(const char *s) { return s && *s ? s : NULL; }

static const char *special_id_of(const cJSON *item) {
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(item, "SpecialToken");
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(st, "id");
    return cJSON_IsString(id) ? id->valuestring : NULL;
}

/* The crude reading of TemplateProcessing / RobertaProcessing that SpecialVocab does: a
 * leading special token means BOS is added (and names BOS when nothing else does), a
 * trailing one means EOS is added and is the EOS token. */
static void read_processor(special *s, const cJSON *p, bool have_config) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(p, "type");
    if (!cJSON_IsString(type)) return;
    if (!strcmp(type->valuestring, "RobertaProcessing")) {
        s->add_bos = s->add_eos = s->says_add_bos = s->says_add_eos = true;
        return;
    }
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(p, "single");
    if (strcmp(type->valuestring, "TemplateProcessing") || !cJSON_IsArray(single) || cJSON_GetArraySize(single) < 2)
        return;
    const char *first = special_id_of(single->child);
    if (first) {
        if (!have_config) {
            s->name[BOS] = first;
        } else {
            if (!s->name[BOS]) s->name[BOS] = first;
            if (!s->cls) s->cls = first;
        }
        s->add_bos = !strcmp(first, s->name[BOS]) || !strcmp(first, s->cls ? s->cls : "");
        s->says_add_bos = true;
    }
    const cJSON *last = single->child;
    while (last->next) last = last->next;
    const char *final = special_id_of(last);
    if (final) {
        s->name[EOS] = final;
        s->add_eos = s->says_add_eos = true;
    }
}

static void read_post_processor(special *s, const cJSON *pp, bool have_config) {
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(pp, "processors");
    const cJSON *p;
    if (!cJSON_IsArray(list)) {
        read_processor(s, pp, have_config);
        return;
    }
    cJSON_ArrayForEach(p, list) read_processor(s, p, have_config);
}

static int32_t added_token_id(const cJSON *tokenizer, const char *content) {
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(tokenizer, "added_tokens");
    const cJSON *a;
    cJSON_ArrayForEach(a, added) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(a, "content");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id");
        int32_t v;
        if (cJSON_IsString(c) && !strcmp(c->valuestring, content)) return mn_hf_token_id(id, &v) ? v : -1;
    }
    return -1;
}

int mn_hf_special_vocab(mn_vocab *v, const cJSON *tokenizer, const cJSON *tokenizer_config, const cJSON *config,
                        const char *source) {
    static const char *const typ[N_SPECIAL] = {"bos", "eos", "unk", "pad"};
    special s = {.id = {-1, -1, -1, -1}};
    char key[32];
    if (tokenizer_config) {
        for (int k = 0; k < N_SPECIAL; k++) {
            snprintf(key, sizeof key, "%s_token", typ[k]);
            s.name[k] = string_or_null(mn_hf_token_text(cJSON_GetObjectItemCaseSensitive(tokenizer_config, key)));
        }
        s.cls = string_or_null(mn_hf_token_text(cJSON_GetObjectItemCaseSensitive(tokenizer_config, "cls_token")));
        if (!s.name[BOS]) s.name[BOS] = s.cls;
        if (!s.name[EOS])
            s.name[EOS] = string_or_null(mn_hf_token_text(cJSON_GetObjectItemCaseSensitive(tokenizer_config, "sep_token")));
    }
    if (tokenizer) {
        const cJSON *pp = cJSON_GetObjectItemCaseSensitive(tokenizer, "post_processor");
        if (cJSON_IsObject(pp)) read_post_processor(&s, pp, tokenizer_config != NULL);
    }
    if (tokenizer_config) {
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(tokenizer_config, "add_bos_token");
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(tokenizer_config, "add_eos_token");
        if (cJSON_IsBool(b)) s.add_bos = cJSON_IsTrue(b), s.says_add_bos = true;
        if (cJSON_IsBool(e)) s.add_eos = cJSON_IsTrue(e), s.says_add_eos = true;
        for (int k = 0; k < N_SPECIAL; k++)
            if (s.name[k] && tokenizer) s.id[k] = added_token_id(tokenizer, s.name[k]);
    }
    for (int k = 0; k < N_SPECIAL && config; k++) {
        snprintf(key, sizeof key, "%s_token_id", typ[k]);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(config, key);
        if (s.id[k] >= 0 || !cJSON_IsNumber(id)) continue;
        if (id->valuedouble < 0) return mn_fail("%s: config.json: %s is negative", source, key);
        mn_hf_token_id(id, &s.id[k]);
    }
    int32_t *dst[N_SPECIAL] = {&v->bos_id, &v->eos_id, &v->unk_id, &v->pad_id};
    for (int k = 0; k < N_SPECIAL; k++)
        if (s.id[k] >= 0 && s.id[k] < v->n_tokens) *dst[k] = s.id[k];
    if (s.says_add_bos) v->add_bos = s.add_bos;
    if (s.says_add_eos) v->add_eos = s.add_eos;
    return 0;
}
