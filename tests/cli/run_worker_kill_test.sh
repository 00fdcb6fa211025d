#!/usr/bin/env bash
# `pkill -9 hwbp` during `hwbp run` (issue 12): SIGKILL reaches the guard and the tracing worker
# at once, so nothing of hwbp can detach cleanly. A writer in the signal-delivery-stop of one of
# hwbp's SIGTRAPs (or with one queued) then gets that SIGTRAP delivered when the kernel detaches
# it, and the program used to die of it. `run` preloads libhwbp_trap_guard.so into the program,
# which drops hwbp's SIGTRAPs: the program must run on to its normal end, not left stopped.
# Repeated: the kill must land while a writer is held for a hit, which is most of the time here.
set -u
HWBP=$1; DIR=$2; PROGS=$3
mkdir -p "$DIR"; cd "$DIR" || exit 1
rm -f ./*.txt ./*.err ./*.out
fail() { echo "FAIL: $*"; for p in ${TP:-} ${HP:-}; do kill -9 "$p" 2>/dev/null; done; exit 1; }
state_of() { awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
rounds=4; [ "${HWBP_TEST_VM:-0}" = 1 ] && rounds=2
ms=3000; [ "${HWBP_TEST_VM:-0}" = 1 ] && ms=15000

for round in $(seq $rounds); do
  rm -f r.txt r.err prog.out
  "$HWBP" run --watch g0 --json -o r.txt -- "$PROGS/many_globals" $ms print > prog.out 2> r.err & HP=$!
  for _ in $(seq 300); do grep -q "watching g0" r.err 2>/dev/null && break; sleep 0.05; done
  TP=$(sed -n 's/.* in process \([0-9]*\).*/\1/p' r.err | head -1)
  [ -n "$TP" ] || fail "round $round: run did not start: $(cat r.err)"
  for _ in $(seq 100); do [ -s r.txt ] && break; sleep 0.05; done
  [ -s r.txt ] || fail "round $round: no hit was reported: the test would test nothing"
  # The guard and its worker (ptrace mode, tools/hwbp/guard.hpp); the bpf mode runs unguarded.
  victims="$HP $(pgrep -P $HP | grep -vx "$TP" | tr '\n' ' ')"
  kill -9 $victims 2>/dev/null; wait $HP 2>/dev/null; HP=
  for _ in $(seq 40); do case $(state_of "$TP") in t|T) sleep 0.05 ;; *) break ;; esac; done
  case $(state_of "$TP") in t|T) fail "round $round: program left stopped after hwbp was killed" ;; esac
  for _ in $(seq 400); do st=$(state_of "$TP"); { [ -z "$st" ] || [ "$st" = Z ]; } && break; sleep 0.1; done
  st=$(state_of "$TP")
  { [ -z "$st" ] || [ "$st" = Z ]; } || fail "round $round: program still running long after its end (state $st)"
  grep -qx done prog.out ||
    fail "round $round: the program did not reach its end after hwbp (guard and worker) was killed with SIGKILL (killed by a SIGTRAP of hwbp's?)"
done
echo "PASS ($rounds rounds: the program ran on to its end each time)"
