#!/bin/sh
# tests/run.sh -- the whole suite: C engine tests, Lua module tests (and the paper's claims),
# REPL tests. Each part prints "N passed, N failed"; this script adds them up, prints the
# total as its last line and exits non-zero on any failure.
# Environment: ENTRO (the binary), C_TESTS (the engine's C test programs).
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
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
