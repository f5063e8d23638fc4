#!/bin/sh
# tests/run.sh -- the whole suite: C engine tests, Lua module tests (and the paper's claims),
# REPL tests, reliability tests (tests/reliability/), brief fuzzing. Each part prints
# "N passed, N failed"; this script adds them up, prints the total as its last line and exits
# non-zero on any failure.
# Environment: ENTRO (the binary), C_TESTS (the engine's C test programs), FUZZ_TARGETS and
# FUZZ_SECONDS (libFuzzer targets to run briefly, and for how long; optional).
ENTRO=${ENTRO:-./entro}
C_TESTS=${C_TESTS:-$(ls build/tests/test_* 2>/dev/null)}
export ENTRO_QUIET=1
total_pass=0
total_fail=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

part() {
  name=$1; shift
  echo "== $name"
  "$@" 2>&1 | tee "$log"
  status=$?
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  if [ -z "$line" ]; then
    echo "!! $name: no summary line (crashed?)"
    total_fail=$((total_fail + 1))
    return
  fi
  p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
  f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
}

for t in $C_TESTS; do
  part "engine $(basename "$t") (C)" "$t"
done
part "Lua modules" "$ENTRO" tests/lua/run.lua
for t in tests/repl/*.sh; do
  [ -f "$t" ] && part "REPL $(basename "$t")" sh "$t" "$ENTRO"
done
for t in tests/reliability/*.sh; do
  [ -f "$t" ] && part "reliability $(basename "$t")" sh "$t" "$ENTRO"
done
for t in $FUZZ_TARGETS; do   # libFuzzer targets (set by make test when clang has libFuzzer)
  part "fuzz $(basename "$t") (${FUZZ_SECONDS:-3}s)" sh tests/fuzz/run_target.sh "$t" "${FUZZ_SECONDS:-3}"
done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
