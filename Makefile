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
        python3-numpy dataset-fashion-mnist

.PHONY: all c-tests deps test test-c test-lua test-repl asan bench demo paper install clean

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

# The whole suite: C engine tests, Lua tests, REPL tests; ends with "N passed, N failed".
test: deps
	@$(MAKE) --no-print-directory all c-tests
	@ENTRO=./entro C_TESTS="$(C_TESTS)" sh tests/run.sh

c-tests: $(C_TESTS)

# The suite under AddressSanitizer and UndefinedBehaviorSanitizer, in build-asan/.
asan: deps
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	  build-asan/entro c-tests
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  ENTRO=build-asan/entro C_TESTS="$(patsubst $(BUILD)/%,build-asan/%,$(C_TESTS))" ENTRO_ASAN=1 sh tests/run.sh

build-asan/entro: $(VM_OBJ) $(LUA_OBJ) $(CORE_OBJ)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LUA_LIBS) -lreadline $(LDLIBS_CORE) $(LDFLAGS)

# entro against PyTorch, with OpenBLAS and plain-C references (bench/README.md)
bench: deps all $(BUILD)/bench/cref
	@ENTRO_BENCH_CREF=$(BUILD)/bench/cref ./entro bench/run.lua

$(BUILD)/bench/cref: bench/cref.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -march=native $(WARN) -o $@ $< -lopenblas -lpthread

# The main job: a quick run of the headline experiments, with figures in out/paper/.
DEMO_SCRIPTS := $(wildcard scripts/paper/rescaling.lua scripts/paper/equipartition.lua scripts/paper/sharpness.lua)
demo: deps all
	@./entro scripts/examples/quickstart.lua
	@for s in $(DEMO_SCRIPTS); do ENTRO_PAPER_SIZE=quick ./entro $$s || exit 1; done

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
	rm -rf build build-asan entro entro.so
