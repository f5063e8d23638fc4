#!/bin/sh
# tests/reliability/kill_resume.sh [ENTRO] -- never lose a result: a training run
# (train.lua) is killed with SIGKILL at random moments (a random number of steps on from where
# it resumed, then a random few milliseconds, so that kills land in training steps and in
# checkpoint writes alike, however fast the machine), each time restarted from its last
# checkpoint, and finally run to the end; its final parameters must be byte for byte those
# of an uninterrupted run, its CSV log must hold the same rows, the checkpoint on disk must
# load after every kill, and nothing may be written outside the run's directory. Then a
# kill in the middle of a checkpoint write (seen by its temporary file) must leave the
# previous checkpoint intact. Prints "N passed, N failed".
ENTRO=${1:-./entro}
export OPENBLAS_NUM_THREADS=1 ENTRO_QUIET=1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/t"   # the test's own files; the runs write only to $tmp/ref and $tmp/run
pass=0
fail=0
ok() {   # ok DESCRIPTION COMMAND...
  d=$1; shift
  if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $d"; fi
}
rand() { od -An -N2 -tu2 /dev/urandom | tr -d ' '; }   # 0..65535
loads() { "$ENTRO" -e "local s = entro.restore('$1'); assert(s.step > 0)" 2>/dev/null; }
only_expected() {   # the run directory holds nothing but the run's own files
  for f in "$1"/*; do
    [ -e "$f" ] || continue   # (an empty directory)
    case $(basename "$f") in ckpt|ckpt.tmp.*|log.csv|final|final.tmp.*) ;; *) echo "unexpected file $f"; return 1;; esac
  done
}
rows() { grep -v '^#' "$1"; }   # the CSV without its provenance line (date, arguments)

"$ENTRO" tests/reliability/train.lua "$tmp/ref" >/dev/null
ok "the uninterrupted run finishes" test -s "$tmp/ref/final"

kills=0
in_write=0
damaged=
stray=
i=0
status=137
while [ "$status" -ne 0 ] && [ $i -lt 12 ]; do   # until a run gets to the end by itself
  i=$((i + 1))
  : >"$tmp/t/progress"   # emptied here, not by the child: the loop below must not see the last run's
  "$ENTRO" tests/reliability/train.lua "$tmp/run" resume >>"$tmp/t/progress" 2>&1 &
  pid=$!
  # let it run 20 to 300 steps from where it resumed (or end), then a few milliseconds more
  target=$((20 + $(rand) % 281))
  n=0
  while [ "$(grep -c '^step ' "$tmp/t/progress")" -lt "$target" ] && ! grep -q '^done' "$tmp/t/progress" \
        && [ $n -lt 2000 ]; do
    sleep 0.005
    n=$((n + 1))
  done
  sleep "$(awk -v r="$(rand)" 'BEGIN { printf "%.3f", 0.03 * r / 65536 }')"
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  status=$?
  [ "$status" -eq 137 ] && kills=$((kills + 1))
  [ -e "$tmp/run/ckpt.tmp.$pid" ] && in_write=$((in_write + 1))
  [ -n "$VERBOSE" ] && echo "run $i: exit status $status, target $target, printed $(grep -c "^step " "$tmp/t/progress"), $(grep -v "^step " "$tmp/t/progress" | head -3), step $("$ENTRO" -e "print(entro.restore('$tmp/run/ckpt').step)" 2>/dev/null)"
  if [ -f "$tmp/run/ckpt" ] && ! loads "$tmp/run/ckpt"; then damaged="$damaged $i"; fi
  only_expected "$tmp/run" || stray="$stray $i"
done
ok "the checkpoint loads after every kill (not after:$damaged)" test -z "$damaged"
ok "nothing but the run's files after every kill (not after:$stray)" test -z "$stray"
"$ENTRO" tests/reliability/train.lua "$tmp/run" resume >/dev/null
ok "the resumed run finishes" test -s "$tmp/run/final"
ok "final parameters are bitwise those of the uninterrupted run" cmp -s "$tmp/ref/final" "$tmp/run/final"
rows "$tmp/ref/log.csv" >"$tmp/t/ref.rows"
rows "$tmp/run/log.csv" >"$tmp/t/run.rows"
ok "the resumed run's CSV log has the uninterrupted run's rows" cmp -s "$tmp/t/ref.rows" "$tmp/t/run.rows"
ok "nothing was written outside the run directories" test "$(ls "$tmp" | tr '\n' ' ')" = "ref run t "
echo "killed $kills times ($in_write in the middle of a checkpoint write)"
ok "killed at least 3 times" test "$kills" -ge 3

# A kill that certainly lands inside a checkpoint write: a big checkpoint, killed as soon as
# its temporary file exists.
mkdir -p "$tmp/w"
"$ENTRO" -e "entro.checkpoint('$tmp/w/ckpt', {step = 1, extra = {x = tensor.ones(3)}})"
cat >"$tmp/t/big.lua" <<LUA
entro.checkpoint('$tmp/w/ckpt', {step = 2, extra = {x = tensor.zeros(25000000)}})
LUA
"$ENTRO" "$tmp/t/big.lua" &
pid=$!
n=0
while [ $n -lt 500 ] && ! ls "$tmp/w"/ckpt.tmp.* >/dev/null 2>&1; do sleep 0.01; n=$((n + 1)); done
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
ok "the big checkpoint was killed while writing its temporary file" test -e "$tmp/w/ckpt.tmp.$pid"
ok "the previous checkpoint is intact" "$ENTRO" -e "assert(entro.restore('$tmp/w/ckpt').step == 1)"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
