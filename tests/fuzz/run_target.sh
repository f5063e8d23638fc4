#!/bin/sh
# tests/fuzz/run_target.sh BINARY SECONDS -- runs one libFuzzer target (build-fuzz/fuzz/fuzz_NAME)
# for SECONDS, starting from the committed corpus tests/fuzz/corpus/NAME and regressions
# tests/fuzz/regressions/NAME (read only: new inputs go to a scratch directory). A crash,
# leak, sanitizer report or timeout leaves its input in build-fuzz/findings/NAME/ and fails.
# Prints the executions run and "N passed, N failed" (1 passed when nothing was found).
bin=$1
secs=${2:-10}
name=$(basename "$bin" | sed 's/^fuzz_//')
findings=build-fuzz/findings/$name
mkdir -p "$findings"
work=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$work" "$log"' EXIT
seeds=tests/fuzz/corpus/$name
[ -d "tests/fuzz/regressions/$name" ] && seeds="$seeds tests/fuzz/regressions/$name"
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=4096 -max_len=65536 \
  -artifact_prefix="$findings/" -print_final_stats=1 "$work" $seeds >"$log" 2>&1
status=$?
runs=$(grep -E '^stat::number_of_executed_units' "$log" | sed -E 's/.*: *//')
cov=$(grep -E 'DONE +cov:' "$log" | tail -n 1 | sed -E 's/.*(cov: [0-9]+ ft: [0-9]+ corp: [0-9]+).*/\1/')
if [ "$status" -eq 0 ]; then
  echo "fuzz $name: ${runs:-?} executions in ${secs}s, no findings${cov:+ ($cov)}"
  echo "1 passed, 0 failed"
else
  tail -n 40 "$log"
  echo "fuzz $name: FINDING after ${runs:-?} executions; input saved in $findings/ (see tests/fuzz/README.md)"
  echo "0 passed, 1 failed"
  exit 1
fi
