#!/bin/sh
# piped.sh -- the entro binary driven through its arguments and piped standard input: the
# REPL's auto-print, multi-line input and error recovery, -i/-e/--version/--help/--seed,
# `arg`, exit statuses, the preloaded modules, and entro.so under a stock lua5.4.
# usage: sh tests/repl/piped.sh path/to/entro
# Prints one line per check and ends with "N passed, N failed"; exits non-zero on failure.
ENTRO=${1:-./entro}
case $ENTRO in /*) ;; *) ENTRO=$(pwd)/$ENTRO ;; esac
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/entro-piped.XXXXXX")
trap 'rm -rf "$T"' EXIT
unset ENTRO_SEED
export ENTRO_QUIET=1
pass=0
fail=0
TAB=$(printf '\t')

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() {
  fail=$((fail + 1)); echo "FAIL $1"
  echo "     stdout: $(head -c 400 "$T/out" | tr '\n' '|')"
  echo "     stderr: $(head -c 400 "$T/err" | tr '\n' '|')"
  echo "     status: $(cat "$T/rc")"
}
# check NAME COMMAND...: passes when the command (a test on the last run) succeeds
check() { name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

# run ARGS...: runs entro with stdin from $T/in; output in $T/out, $T/err, $T/rc
run() { "$ENTRO" "$@" <"$T/in" >"$T/out" 2>"$T/err"; echo $? >"$T/rc"; }
# repl TEXT: a REPL session (-i) reading TEXT
repl() { printf '%s\n' "$1" >"$T/in"; run -i; }
out_is() { [ "$(cat "$T/out")" = "$1" ]; }
out_has() { grep -qF -- "$1" "$T/out"; }
err_has() { grep -qF -- "$1" "$T/err"; }
status_is() { [ "$(cat "$T/rc")" = "$1" ]; }
status_not() { [ "$(cat "$T/rc")" != "$1" ]; }
all() { for c in "$@"; do eval "$c" || return 1; done; }
: >"$T/in"

# ---- the REPL through a pipe

repl '1 + 1'
check "auto-prints an expression" out_is 2
repl 'tensor.ones(2, 2)'
check "auto-prints a tensor" out_is "$(printf '[[1 1]\n [1 1]]\n[entro.Tensor 2x2]')"
repl '1, "a", nil, tensor.zeros(3)'
check "auto-prints every value of a list" out_is "$(printf '1\ta\tnil\t[0 0 0]\n[entro.Tensor 3]')"
repl 'local_f = function() return 4, 5 end
local_f()'
check "auto-prints multiple return values" out_is "4${TAB}5"
repl 'x = 5
y = x * 2
y'
check "statements print nothing; their effects stay" out_is 10
repl 'print("side effect")'
check "a call's output, and no auto-print of no values" out_is "side effect"
repl 'function twice(a)
  local b = a * 2
  return b
end
twice(21)'
check "a multi-line function definition" all "status_is 0" "out_is 42"
repl 'for i = 1, 3 do
  io.write(i, ";")
end
print()
t = {
  a = 1,
  b = 2,
}
t.a + t.b'
check "a multi-line for-loop and table constructor" out_is "$(printf '1;2;3;\n3')"
repl 'keep = 7
error("boom")
keep + 1'
check "an error prints a traceback and the session goes on" \
  all "out_is 8" "err_has 'entro: stdin:1: boom'" "err_has 'stack traceback:'" "status_is 0"
repl 'z = 1
nosuch.field = 2
z'
check "a runtime error keeps earlier variables" all "out_is 1" "err_has \"global 'nosuch'\""
printf 'print("before")\nerror("after")\n' | "$ENTRO" -i >"$T/merged" 2>&1
check "output printed before an error comes first" \
  sh -c "head -n 1 '$T/merged' | grep -qx before"
repl 'x = = 1
"still here"'
check "a syntax error is reported and the session goes on" \
  all "out_is 'still here'" "err_has 'stdin:1:'"
repl 'f = function(
  a'
check "input ending inside a chunk reports <eof>" err_has "<eof>"
repl '-- a comment only

nil'
check "comments, empty lines and nil" out_is nil
repl 'help(tensor.zeros)
help(nothing_at_all)'
check "help(f) prints a doc; unknown values say so" \
  all "out_has 'tensor.zeros(d1, d2, ...)'" "out_has 'no help for nil'"

# ---- scripts, -i, -e, arg

cat >"$T/script.lua" <<'EOF'
script_global = 99
print("args", arg[-1] ~= nil, arg[0], arg[1], arg[2], #arg, select("#", ...), ...)
EOF
: >"$T/in"
run "$T/script.lua" a b
check "arg[0], arg[1], arg[2], #arg and ... for a script" \
  out_is "args${TAB}true${TAB}$T/script.lua${TAB}a${TAB}b${TAB}2${TAB}2${TAB}a${TAB}b"
printf 'print(arg[-1], arg[-2] == nil)\n' >"$T/argneg.lua"
run "$T/argneg.lua"
check "arg[-1] is the binary" out_is "$ENTRO${TAB}true"
run --seed 3 "$T/argneg.lua"
check "arg keeps the options before the script" out_is "3${TAB}false"
printf 'script_global * 2\nprint(arg[1])\n' >"$T/in"
run -i "$T/script.lua" x
check "-i script keeps the script's globals, then reads the prompt" \
  all "out_has 198" "out_has 'args'" "status_is 0"
printf 'print("from stdin", ...)\n' >"$T/in"
run - q
check "- runs standard input as the script" out_is "from stdin${TAB}q"
printf 'print(40 + 2)\n' >"$T/in"
"$ENTRO" <"$T/in" >"$T/out" 2>"$T/err"; echo $? >"$T/rc"
check "no arguments and piped stdin runs it as a script" all "out_is 42" "status_is 0"
: >"$T/in"
run -e 'print(6 * 7)'
check "-e runs code" all "out_is 42" "status_is 0"
run -e 'a = 1' -e 'print(a + 1)'
check "several -e run in order" out_is 2
printf 'a * 10\n' >"$T/in"
run -e 'a = 4' -i
check "-e then -i keeps the state" out_is 40
: >"$T/in"
run -e 'error("bad")'
check "an -e error: non-zero status and the message" \
  all "status_not 0" "err_has 'entro: (command line):1: bad'"

printf 'local x = 1\nlocal y = nil + x\n' >"$T/err.lua"
run "$T/err.lua"
check "a script error: non-zero status and 'entro: file:line: message'" \
  all "status_not 0" "err_has \"entro: $T/err.lua:2: attempt to perform arithmetic on a nil value\"" \
      "err_has 'stack traceback:'"
run "$T/nonexistent.lua"
check "a missing script: non-zero status and a message" \
  all "status_not 0" "err_has 'nonexistent.lua'"
printf 'x = = 1\n' >"$T/syntax.lua"
run "$T/syntax.lua"
check "a script syntax error: non-zero status, file and line" \
  all "status_not 0" "err_has 'syntax.lua:1:'"
printf 'os.exit(3)\n' >"$T/exit3.lua"
run "$T/exit3.lua"
check "os.exit(n) sets the exit status" status_is 3

# ---- options

run --version
check "--version prints the version and exits 0" \
  all "status_is 0" "out_has 'entro 0'" "out_has 'Lua 5.4'"
version=$("$ENTRO" -e 'io.write(entro.version)' </dev/null)
check "--version agrees with entro.version" out_has "entro $version"
run --help
check "--help prints the usage and exits 0" all "status_is 0" "out_has 'usage: entro'" "out_has '--seed'"
run --no-such-option
check "an unknown option: non-zero status and the usage" \
  all "status_not 0" "err_has 'no-such-option'" "err_has 'usage: entro'"
run -e
check "-e without code: non-zero status" all "status_not 0" "err_has 'usage: entro'"
run --seed
check "--seed without a number: non-zero status" status_not 0
run --seed abc -e 'print(1)'
check "--seed with a non-number: non-zero status" all "status_not 0" "err_has 'abc'"
run --seed=abc -e 'print(1)'
check "--seed=abc: non-zero status" status_not 0

# ---- seeds

draw='io.write(table.concat(tensor.randn(4):totable(), " "), " ", entro.seed)'
d0=$("$ENTRO" -e "$draw" </dev/null)
d0b=$(ENTRO_SEED=0 "$ENTRO" -e "$draw" </dev/null)
d1=$("$ENTRO" --seed 1 -e "$draw" </dev/null)
d1b=$("$ENTRO" --seed 1 -e "$draw" </dev/null)
d1c=$("$ENTRO" --seed=1 -e "$draw" </dev/null)
d1e=$(ENTRO_SEED=1 "$ENTRO" -e "$draw" </dev/null)
d2=$("$ENTRO" --seed 2 -e "$draw" </dev/null)
dboth=$(ENTRO_SEED=5 "$ENTRO" --seed 1 -e "$draw" </dev/null)
: >"$T/out"
check "the default seed is 0" sh -c "[ -n '$d0' ] && [ '$d0' = '$d0b' ] && [ '${d0##* }' = 0 ]"
check "--seed N: the same N gives the same draws" sh -c "[ -n '$d1' ] && [ '$d1' = '$d1b' ] && [ '$d1' = '$d1c' ]"
check "--seed changes tensor.randn" sh -c "[ '$d1' != '$d0' ] && [ '$d1' != '$d2' ] && [ '${d1##* }' = 1 ]"
check "ENTRO_SEED works like --seed" sh -c "[ '$d1e' = '$d1' ]"
check "--seed wins over ENTRO_SEED" sh -c "[ '$dboth' = '$d1' ]"

# ---- modules

run -e 'print(require "entro.tensor" == tensor, require "entro" == entro, entro.tensor == tensor)'
check 'require "entro.tensor" == tensor, require "entro" == entro' out_is "true${TAB}true${TAB}true"
run -e 'local bad = {}
for _, m in ipairs{"nn", "optim", "diag", "plot", "data"} do
  if package.preload["entro." .. m] or package.loaded["entro." .. m] then
    if _G[m] == nil or require("entro." .. m) ~= _G[m] or entro[m] ~= _G[m] then bad[#bad + 1] = m end
  end
end
print("bad:" .. table.concat(bad, ","))'
check "each stdlib module is a global, require'd and entro.<name> alike" out_is "bad:"
run -e 'print(type(entro.version), entro.version:match("^%d+%.%d+%.%d+") ~= nil, type(entro.mem()))'
check "entro.version is a version string; entro.mem() works" out_is "string${TAB}true${TAB}number"

if command -v lua5.4 >/dev/null 2>&1 && [ -f "$ROOT/entro.so" ]; then
  (cd "$ROOT" && lua5.4 -e 'package.cpath="./?.so;"..package.cpath; local e = require "entro"; print(e.tensor.zeros(2))') \
    >"$T/out" 2>"$T/err"
  echo $? >"$T/rc"
  check "lua5.4 + entro.so: require \"entro\" works" all "status_is 0" "out_is '$(printf '[0 0]\n[entro.Tensor 2]')'"
  (cd "$ROOT" && lua5.4 -e 'package.cpath="./?.so;"..package.cpath; local e = require "entro"
    print(require "entro.tensor" == e.tensor, tensor == nil, e.version)') >"$T/out" 2>"$T/err"
  echo $? >"$T/rc"
  check "lua5.4 + entro.so: submodules by require, no globals written" \
    out_is "true${TAB}true${TAB}$version"
else
  echo '' >"$T/out"; : >"$T/err"; echo 1 >"$T/rc"
  check "lua5.4 and $ROOT/entro.so are there" false
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
