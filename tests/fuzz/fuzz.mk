# libFuzzer targets (docs/reliability.md), included by the Makefile. They link the layers that
# parse files (core, formats, text, and model's loader) compiled by clang with AddressSanitizer,
# UBSan and coverage instrumentation in their own tree, $(FUZZ_BUILD).

FUZZ_CC    ?= clang-14
FUZZ_BUILD ?= build/fuzz
FUZZ_SAN    = -fsanitize=address,undefined -fno-sanitize-recover=undefined
# No OpenMP: the parsers run on one thread, so the fuzzers need no OpenMP runtime (the
# pragmas elsewhere are ignored, and core/threads.c, the only user of omp.h here, is left out).
FUZZ_CFLAGS = -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) -std=c11 -Wall -Wextra -Wshadow -Wno-unused-parameter \
              -Wno-unknown-pragmas -D_GNU_SOURCE -I. -MMD -MP
FUZZ_LIBS   = -lcjson -lpcre2-8 -lm
FUZZ_LIB_SRC = $(filter-out core/threads.c,$(wildcard core/*.c formats/*.c text/*.c)) model/load.c model/model.c
FUZZ_LIB_OBJ = $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_LIB     = $(FUZZ_BUILD)/libminnow_fuzz.a
FUZZ_PARSERS = safetensors safetensors_dir gguf gguf_tokenizer hf_config tokenizer_json sp_model llama2c \
               llama2c_tokenizer model_load
FUZZ_VOCABS  = spm gpt2 llama3 qwen
FUZZ_TARGETS = $(FUZZ_PARSERS) $(FUZZ_VOCABS:%=encode_%)
FUZZ_BINS    = $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/%)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_LIB): $(FUZZ_LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

# One binary per vocabulary from the same source; the data path is built in (MINNOW_DATA
# overrides it at run time).
# Their dependency files live in deps/, where no pattern rule here would try to remake them.
$(FUZZ_BUILD)/encode_%: tests/fuzz/fuzz_encode.c $(FUZZ_LIB)
	@mkdir -p $(FUZZ_BUILD)/deps
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MF $(FUZZ_BUILD)/deps/$(@F).d -fsanitize=fuzzer -DMN_FUZZ_VOCAB='"$*"' -DMN_FUZZ_DATA='"$(abspath $(DATA))"' \
	    -o $@ $< $(FUZZ_LIB) $(FUZZ_LIBS)

$(FUZZ_BUILD)/%: tests/fuzz/fuzz_%.c $(FUZZ_LIB)
	@mkdir -p $(FUZZ_BUILD)/deps
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MF $(FUZZ_BUILD)/deps/$(@F).d -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) $(FUZZ_LIBS)

# Seeds are cut from the real files by a plain (gcc) tool on the normal build.
$(FUZZ_BUILD)/make_seeds: tests/fuzz/make_seeds.c $(LIB)
	@mkdir -p $(FUZZ_BUILD)/deps
	$(CC) $(MN_CFLAGS) -MF $(FUZZ_BUILD)/deps/make_seeds.d $(MN_LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

-include $(FUZZ_LIB_OBJ:.o=.d) $(wildcard $(FUZZ_BUILD)/deps/*.d)
