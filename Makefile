# entro -- every entry point: deps, build, test, asan, bench, demo, paper, install.
# `make test` and `make demo` install what is missing (through `make deps`) first.

PREFIX ?= /usr/local
CC ?= cc
LUA_PC := lua5.4
LUA_CFLAGS := $(shell pkg-config --cflags $(LUA_PC) 2>/dev/null || echo -I/usr/include/lua5.4)
LUA_LIBS := $(shell pkg-config --libs $(LUA_PC) 2>/dev/null || echo -llua5.4)

# -Wall -Wextra -Werror plus the warnings Lua's own makefile turns on
WARN := -Wall -Wextra -Werror -Wshadow -Wundef -Wwrite-strings -Wredundant-decls \
        -Wdisabled-optimization -Wmissing-declarations -Wmissing-prototypes \
        -Wstrict-prototypes -Wold-style-definition -Wnested-externs
OPT ?= -O2 -ftree-vectorize -fno-math-errno
CFLAGS_ALL := -std=gnu11 -g -fPIC $(OPT) $(WARN) $(LUA_CFLAGS) $(CFLAGS)
LDLIBS_CORE := -ldl -lm -lpthread -lz

BUILD ?= build
CORE_SRC := $(wildcard bindings/core/*.c)
LUA_SRC := $(wildcard bindings/lua/*.c)
VM_SRC := $(wildcard vm/*.c)
STDLIB := $(sort $(wildcard stdlib/entro/*.lua stdlib/entro/*/*.lua))
CORE_OBJ := $(CORE_SRC:%.c=$(BUILD)/%.o)
LUA_OBJ := $(LUA_SRC:%.c=$(BUILD)/%.o) $(BUILD)/stdlib_embed.o
VM_OBJ := $(VM_SRC:%.c=$(BUILD)/%.o)
HEADERS := $(wildcard bindings/core/*.h bindings/lua/*.h vm/*.h)

DEB_PACKAGES := gcc make libc6-dev pkg-config lua5.4 liblua5.4-dev libopenblas-dev \
        liblapacke-dev libreadline-dev zlib1g-dev gnuplot-nox python3 python3-torch \
        python3-numpy dataset-fashion-mnist clang libclang-rt-14-dev valgrind

.PHONY: all c-tests deps test test-c test-lua test-repl asan fuzz fuzz-targets valgrind bench demo paper install clean

all: entro entro.so

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing" $$missing; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BUILD)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "  CC   $<"
	@$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/stdlib_embed.c: tools/embed.lua $(STDLIB) Makefile
	@mkdir -p $(BUILD)
	lua5.4 tools/embed.lua $@ $(STDLIB)

$(BUILD)/stdlib_embed.o: $(BUILD)/stdlib_embed.c bindings/lua/lstdlib.h
	$(CC) $(CFLAGS_ALL) -Ibindings/lua -c $< -o $@

entro: $(VM_OBJ) $(LUA_OBJ) $(CORE_OBJ)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LUA_LIBS) -lreadline $(LDLIBS_CORE) $(LDFLAGS)

entro.so: $(LUA_OBJ) $(CORE_OBJ)
	$(CC) $(CFLAGS_ALL) -shared -o $@ $^ $(LDLIBS_CORE) $(LDFLAGS)

# each tests/c/test_*.c is one engine test program, linked without Lua
C_TESTS := $(patsubst tests/c/%.c,$(BUILD)/tests/%,$(wildcard tests/c/test_*.c))
$(BUILD)/tests/%: tests/c/%.c tests/c/check.h $(CORE_OBJ)
	@mkdir -p $(dir $@)
	@echo "  CC   $<"
	@$(CC) $(CFLAGS_ALL) -Ibindings/core -o $@ $< $(CORE_OBJ) $(LDLIBS_CORE)

# Each tests/fuzz/target_<name>.c is a libFuzzer target for a file reader. Linked with
# tests/fuzz/replay.c by the normal compiler it is a C test that replays the committed corpus
# and regressions (tests/fuzz/{corpus,regressions}/<name>), so every run of the suite does.
FUZZ_CORE := serialize idx
C_TESTS += $(FUZZ_CORE:%=$(BUILD)/fuzz/replay_%)
$(BUILD)/fuzz/replay_%: tests/fuzz/target_%.c tests/fuzz/replay.c tests/fuzz/fuzz.h $(CORE_OBJ)
	@mkdir -p $(dir $@)
	@echo "  CC   $<"
	@$(CC) $(CFLAGS_ALL) -Ibindings/core -DFUZZ_NAME=$* -o $@ $< tests/fuzz/replay.c $(CORE_OBJ) $(LDLIBS_CORE)

# The whole suite: C engine tests, Lua tests, REPL tests, reliability tests, and (where clang
# has libFuzzer) a few seconds of each file-reader fuzz target; ends with "N passed, N failed".
test: deps
	@$(MAKE) --no-print-directory all c-tests
	@if [ -n "$(HAVE_LIBFUZZER)" ]; then $(MAKE) --no-print-directory fuzz-targets FUZZ_NAMES="$(FUZZ_CORE)"; \
	  else echo "make test: clang with libFuzzer not found; fuzz targets only replay their corpus"; fi
	@ENTRO=./entro C_TESTS="$(C_TESTS)" FUZZ_SECONDS=$(FUZZ_QUICK) \
	  FUZZ_TARGETS="$(if $(HAVE_LIBFUZZER),$(FUZZ_CORE:%=$(FUZZ_BUILD)/fuzz/fuzz_%))" sh tests/run.sh

c-tests: $(C_TESTS)

# The suite under AddressSanitizer and UndefinedBehaviorSanitizer, in build-asan/.
SANITIZE := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allocator_may_return_null=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp
asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="$(SANITIZE)" build-asan/entro c-tests
	@$(SAN_ENV) ENTRO=build-asan/entro C_TESTS="$(patsubst $(BUILD)/%,build-asan/%,$(C_TESTS))" ENTRO_ASAN=1 sh tests/run.sh

$(BUILD)/entro: $(VM_OBJ) $(LUA_OBJ) $(CORE_OBJ)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LUA_LIBS) -lreadline $(LDLIBS_CORE) $(LDFLAGS)

# ---- fuzzing (tests/fuzz/README.md) ----
# libFuzzer targets, built by clang with ASan and UBSan in $(FUZZ_BUILD)/: the entro format
# reader, the IDX reader (engine only), and every reader through Lua (target_lua.c). Fuzzing
# builds free memory at once instead of caching it (ENTRO_NO_CACHE), so ASan sees every use
# after free; $(FUZZ_BUILD)-asan/entro is such an entro for the Lua API fuzz.
FUZZ_BUILD := build-fuzz
FUZZ_CC ?= clang
FUZZ_NAMES ?= $(FUZZ_CORE) lua
# seconds per target in make test and in make fuzz; operations of the Lua API fuzz in make fuzz
FUZZ_QUICK ?= 3
FUZZ_SECONDS ?= 60
FUZZ_OPS ?= 20000
HAVE_LIBFUZZER = $(shell echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' \
  | $(FUZZ_CC) -x c -fsanitize=fuzzer - -o /dev/null 2>/dev/null && echo yes)

fuzz-targets:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) OPT="$(SANITIZE) -DENTRO_NO_CACHE=1 -fsanitize=fuzzer-no-link" \
	  $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz/fuzz_%)

$(BUILD)/fuzz/fuzz_lua: tests/fuzz/target_lua.c tests/fuzz/fuzz.h $(LUA_OBJ) $(CORE_OBJ)
	@mkdir -p $(dir $@)
	@echo "  LD   $@"
	@$(CC) $(CFLAGS_ALL) -fsanitize=fuzzer -o $@ $< $(LUA_OBJ) $(CORE_OBJ) $(LUA_LIBS) $(LDLIBS_CORE)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/target_%.c tests/fuzz/fuzz.h $(CORE_OBJ)
	@mkdir -p $(dir $@)
	@echo "  LD   $@"
	@$(CC) $(CFLAGS_ALL) -fsanitize=fuzzer -Ibindings/core -o $@ $< $(CORE_OBJ) $(LDLIBS_CORE)

# Longer fuzzing: each libFuzzer target for FUZZ_SECONDS (findings in build-fuzz/findings/),
# then the Lua API fuzz (tests/lua/test_fuzz_api.lua) for FUZZ_OPS operations on a fresh seed
# under ASan and UBSan. Make findings regression tests: see tests/fuzz/README.md.
fuzz: deps
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD)-asan OPT="$(SANITIZE) -DENTRO_NO_CACHE=1" $(FUZZ_BUILD)-asan/entro
	@status=0; \
	if [ -n "$(HAVE_LIBFUZZER)" ]; then \
	  $(MAKE) --no-print-directory fuzz-targets || exit 1; \
	  for n in $(FUZZ_NAMES); do sh tests/fuzz/run_target.sh $(FUZZ_BUILD)/fuzz/fuzz_$$n $(FUZZ_SECONDS) || status=1; done; \
	else echo "make fuzz: clang with libFuzzer not found (apt-get install clang libclang-rt-14-dev)"; fi; \
	seed=$${ENTRO_FUZZ_SEED:-$$(date +%s)}; echo "== Lua API fuzz: seed $$seed, $(FUZZ_OPS) operations"; \
	$(SAN_ENV) ENTRO_QUIET=1 ENTRO_FUZZ_SEED=$$seed ENTRO_FUZZ_OPS=$(FUZZ_OPS) \
	  $(FUZZ_BUILD)-asan/entro tests/lua/run.lua tests/lua/test_fuzz_api.lua || status=1; \
	exit $$status

# The Lua tests under valgrind memcheck (slow, about 20 minutes: not part of make test).
# VALGRIND_TESTS picks the files; OpenBLAS runs one thread. Leaks are blocks definitely or
# indirectly lost (the test runner exits without closing its Lua state, so what that state
# holds shows as "possibly lost" or reachable, not as errors).
VALGRIND_TESTS ?= $(sort $(wildcard tests/lua/test_*.lua))
valgrind: deps all
	OPENBLAS_NUM_THREADS=1 ENTRO_QUIET=1 ENTRO_VALGRIND=1 valgrind --leak-check=full --show-possibly-lost=no \
	  --errors-for-leak-kinds=definite,indirect --error-exitcode=1 --suppressions=tests/valgrind.supp \
	  --num-callers=30 ./entro tests/lua/run.lua $(VALGRIND_TESTS)

# entro against PyTorch, with OpenBLAS and plain-C references (bench/README.md)
bench: deps all $(BUILD)/bench/cref
	@ENTRO_BENCH_CREF=$(BUILD)/bench/cref ./entro bench/run.lua

$(BUILD)/bench/cref: bench/cref.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -march=native $(WARN) -o $@ $< -lopenblas -lpthread

# The main job: quickstart, then quick runs of the headline experiments (figures in out/demo/).
DEMO_SCRIPTS := $(wildcard scripts/paper/rescaling.lua scripts/paper/equipartition.lua scripts/paper/sharpness.lua)
demo: deps all
	@./entro scripts/examples/quickstart.lua
	@for s in $(DEMO_SCRIPTS); do ENTRO_PAPER_SIZE=quick ENTRO_PAPER_DIR=out/demo ./entro $$s || exit 1; done
	@echo "figures: out/quickstart.png and out/demo/"

# Every claim of PAPER.md §6 at full size: figures and REPORT.md in out/paper/.
PAPER_SCRIPTS := $(sort $(wildcard scripts/paper/[a-z]*.lua))
paper: deps all
	@mkdir -p out/paper && rm -f out/paper/claims.jsonl
	@for s in $(filter-out scripts/paper/make_report.lua,$(PAPER_SCRIPTS)); do \
	  echo "== $$s"; ENTRO_PAPER_SIZE=full ./entro $$s || echo "!! $$s failed"; done
	@./entro scripts/paper/make_report.lua

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/lua/5.4
	install -m 755 entro $(DESTDIR)$(PREFIX)/bin/entro
	install -m 644 entro.so $(DESTDIR)$(PREFIX)/lib/lua/5.4/entro.so

clean:
	rm -rf build build-asan $(FUZZ_BUILD) $(FUZZ_BUILD)-asan entro entro.so
