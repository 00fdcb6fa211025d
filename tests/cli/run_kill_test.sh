#!/usr/bin/env bash
# hwbp itself SIGKILLed while hits are flowing: the program must run on, unstopped, with no
# watch left, and exit normally. In the bpf mode no signal ever reaches the program (the kernel
# closes hwbp's events, and with them the program's, when hwbp dies). In the ptrace mode the
# process killed is hwbp's guard (tools/hwbp/guard.hpp): its worker, the tracer, detaches
# cleanly. Repeated a few times: a stop of the writer is in progress at most kills.
set -u
HWBP=$1; DIR=$2; PROGS=$3
mkdir -p "$DIR"; cd "$DIR" || exit 1
rm -f ./*.txt ./*.err
fail() { echo "FAIL: $*"; for p in ${TP:-} ${HP:-}; do kill -9 "$p" 2>/dev/null; done; exit 1; }
[ -x "$PROGS/many_globals" ] || fail "test program missing: $PROGS/many_globals"

state_of() { awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
# The program must not stay stopped (a ptrace-mode worker may hold it for a moment while it
# detaches after the kill).
not_left_stopped() {
  local st
  for _ in $(seq 40); do
    st=$(state_of "$1")
    case $st in t|T) sleep 0.05 ;; *) return 0 ;; esac
  done
  fail "program left stopped (state $st) after hwbp was killed"
}

# attach: the program is ours, so its exit status is known. Three rounds: a kill that lands
# while a writer is stopped for a hit is the case that matters.
for round in 1 2 3; do
  rm -f a.txt a.err
  "$PROGS/many_globals" long & TP=$!
  sleep 0.1
  "$HWBP" attach -p $TP --watch g0 --watch g1 --json -o a.txt 2> a.err & HP=$!
  for _ in $(seq 50); do grep -q "watching g1" a.err 2>/dev/null && break; sleep 0.02; done
  grep -q "watching g1" a.err || fail "attach did not start: $(cat a.err)"
  sleep 0.$((round + 1))
  kill -9 $HP; wait $HP 2>/dev/null
  not_left_stopped $TP
  wait $TP; rc=$?
  [ $rc -eq 0 ] || fail "round $round: program exit status $rc after hwbp was killed during attach (expected 0)"
  [ -s a.txt ] || fail "no hit was reported before the kill: the test did not test anything"
done

# run: the program is hwbp's child; once hwbp dies it must still finish on its own.
# 3 s: the program's clock runs while hwbp holds it for its first hits (symbols, unwinding).
"$HWBP" run --watch g0 --json -o r.txt -- "$PROGS/many_globals" 3000 2> r.err & HP=$!
for _ in $(seq 50); do grep -q "watching g0" r.err 2>/dev/null && break; sleep 0.02; done
TP=$(sed -n 's/.* in process \([0-9]*\).*/\1/p' r.err | head -1)
[ -n "$TP" ] || fail "run did not start: $(cat r.err)"
sleep 0.2
kill -9 $HP; wait $HP 2>/dev/null
not_left_stopped "$TP"
st=$(state_of "$TP")
[ -n "$st" ] || fail "program died with hwbp run (it had ~2.8 s left to run)"
for _ in $(seq 100); do [ -z "$(state_of "$TP")" ] || [ "$(state_of "$TP")" = Z ] && break; sleep 0.05; done
st=$(state_of "$TP")
[ -z "$st" ] || [ "$st" = Z ] || fail "program still running 5 s later (state $st)"
[ -s r.txt ] || fail "no hit was reported before the kill"
echo PASS
