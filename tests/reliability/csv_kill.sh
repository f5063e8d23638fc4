#!/bin/sh
# tests/reliability/csv_kill.sh [ENTRO] -- CSV logs are flushed per row: a process writing a
# monitor's CSV log is killed with SIGKILL at random moments (after a random number of rows,
# then a random few milliseconds); every row it had reported as recorded must be in the
# file, complete and in order, and at most the row being written may be cut short. Prints
# "N passed, N failed".
ENTRO=${1:-./entro}
export OPENBLAS_NUM_THREADS=1 ENTRO_QUIET=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() {
  d=$1; shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $d"; fi
}
rand() { od -An -N2 -tu2 /dev/urandom | tr -d ' '; }

# The rows of the CSV: line 1 is the provenance comment, line 2 the header; every complete
# line after them must have the header's field count and step (first field) = its row
# number. Prints the number of complete rows, or "bad LINE" for the first bad one.
complete_rows() {
  awk -F, '
    NR == 1 { if ($0 !~ /^# entro /) { print "bad 1"; exit } next }
    NR == 2 { n = NF; next }
    { rows[NR] = $0; nf[NR] = NF; step[NR] = $1; last = NR }
    END {
      if (bad) exit
      for (i = 3; i <= last; i++) {
        if (i == last && !complete) break
        if (nf[i] != n || step[i] != i - 2) { print "bad " i; exit }
      }
      print (complete ? last : last - 1) - 2
    }' complete="$2" "$1"
}

for i in 1 2 3; do
  csv="$tmp/run$i.csv"
  : >"$tmp/out$i"
  "$ENTRO" tests/reliability/csv_writer.lua "$csv" >>"$tmp/out$i" 2>&1 &
  pid=$!
  # once it has reported 1 to 2000 rows, a random few milliseconds more
  target=$((1 + $(rand) % 2000))
  n=0
  while [ "$(grep -c '^recorded ' "$tmp/out$i")" -lt "$target" ] && [ $n -lt 2000 ]; do
    sleep 0.005
    n=$((n + 1))
  done
  sleep "$(awk -v r="$(rand)" 'BEGIN { printf "%.3f", 0.02 * r / 65536 }')"
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null
  reported=$(grep -c '^recorded ' "$tmp/out$i")
  # a last line without its newline is the row being written when the kill came
  if [ -n "$(tail -c 1 "$csv")" ]; then complete=0; else complete=1; fi
  got=$(complete_rows "$csv" "$complete")
  echo "kill $i: $reported rows reported, $got complete rows in the file"
  ok "kill $i: the rows are complete and in order" test "${got#bad}" = "$got"
  ok "kill $i: every reported row is in the file" test "${got#bad}" = "$got" -a "$got" -ge "$reported" -a "$reported" -gt 0
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
