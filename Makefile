# minnow: see README.md. `make` builds build/minnow; `make test` installs what is missing and
# runs every test; `make demo` runs the main job on the shared real model.

CC      ?= gcc
BUILD   ?= build
CFLAGS  ?= -O2 -g
# Flags the code needs whatever the user passes in CFLAGS (sanitize, fuzz builds).
MN_CFLAGS  = $(CFLAGS) -std=c11 -Wall -Wextra -Wshadow -Wno-unused-parameter -fopenmp -D_GNU_SOURCE -I. -MMD -MP
MN_LDFLAGS = $(LDFLAGS) -fopenmp
LDLIBS  = -lopenblas -lzstd -lcjson -lpcre2-8 -lm

LAYERS  = core formats text model quant prune distill eval
LIB_SRC = $(foreach d,$(LAYERS),$(wildcard $(d)/*.c))
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_SRC = $(wildcard cli/*.c)
CLI_OBJ = $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
LIB     = $(BUILD)/libminnow.a
BIN     = $(BUILD)/minnow

UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC = $(wildcard tests/tools/*.c)
TOOL_BIN = $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

DATA ?= ../shared/data

.PHONY: all deps test unit demo bench sanitize fuzz fuzz-build clean peer

all: $(BIN)

deps:
	@scripts/install-deps.sh

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(MN_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	@echo "AR $@"
	@ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(MN_LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/unit.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(MN_CFLAGS) $(MN_LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) $(shell pkg-config --libs check)

$(BUILD)/tools/%: tests/tools/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(MN_CFLAGS) $(MN_LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# The outside judge: llama.cpp's prebuilt library from npm, driven by a small C harness.
peer:
	@tests/peer/setup.sh $(BUILD)/peer

unit: $(UNIT_BIN)
	@tests/run.sh $(BUILD) $(DATA) unit/

test: deps
	@$(MAKE) --no-print-directory $(BIN) $(UNIT_BIN) $(TOOL_BIN)
	@$(MAKE) --no-print-directory peer
	@tests/run.sh $(BUILD) $(DATA)

demo: deps
	@$(MAKE) --no-print-directory $(BIN)
	@scripts/demo.sh $(BUILD) $(DATA)

bench: deps
	@$(MAKE) --no-print-directory $(BIN) $(TOOL_BIN)
	@$(MAKE) --no-print-directory peer
	@tests/bench/run.sh $(BUILD) $(DATA)

# The whole suite under AddressSanitizer + UBSan, in its own build tree.
sanitize: deps
	@$(MAKE) --no-print-directory BUILD=build/sanitize \
	    CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined" build/sanitize/minnow $(UNIT_SRC:tests/unit/%.c=build/sanitize/tests/%) \
	    $(TOOL_SRC:tests/tools/%.c=build/sanitize/tools/%)
	@$(MAKE) --no-print-directory peer
	@MINNOW_SANITIZE=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	    tests/run.sh build/sanitize $(DATA)

# libFuzzer targets over every parser (tests/fuzz, docs/reliability.md): clang and its runtimes
# are installed when missing; each target runs FUZZ_SECONDS on seeds cut from $(DATA) (FUZZ_JOBS
# at a time, niced), then every saved regression input is replayed.
FUZZ_SECONDS ?= 600
include tests/fuzz/fuzz.mk

fuzz-build: deps
	@scripts/install-deps.sh clang-14 libclang-rt-14-dev
	@$(MAKE) --no-print-directory $(BIN) $(BUILD)/tools/vocab_to_gguf $(FUZZ_BUILD)/make_seeds $(FUZZ_BINS)

fuzz: fuzz-build
	@MINNOW=$(BIN) TOOLS=$(BUILD)/tools tests/fuzz/run.sh $(FUZZ_BUILD) $(DATA) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
