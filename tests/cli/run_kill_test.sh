#!/usr/bin/env bash
# hwbp itself SIGKILLed while hits are flowing: the program must run on, unstopped, with no
# watch left, and exit normally. In the bpf mode no signal ever reaches the program (the kernel
# closes hwbp's events, and with them the program's, when hwbp dies). In the ptrace mode a
# SIGTRAP already queued for a stopped writer is delivered when the tracer vanishes and kills
# the program: a documented limit of that mode (README), so the script skips there.
set -u
HWBP=$1; DIR=$2; PROGS=$3
mkdir -p "$DIR"; cd "$DIR" || exit 1
rm -f ./*.txt ./*.err
fail() { echo "FAIL: $*"; for p in ${TP:-} ${HP:-}; do kill -9 "$p" 2>/dev/null; done; exit 1; }
if [ "${HWBP_MODE:-auto}" = ptrace ]; then
  echo "SKIP: the ptrace mode cannot survive SIGKILL of hwbp while a hit is queued (documented limit)"
  exit 77
fi
[ -x "$PROGS/many_globals" ] || fail "test program missing: $PROGS/many_globals"

state_of() { awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# attach: the program is ours, so its exit status is known.
"$PROGS/many_globals" long & TP=$!
sleep 0.1
"$HWBP" attach -p $TP --watch g0 --watch g1 --json -o a.txt 2> a.err & HP=$!
for _ in $(seq 50); do grep -q "watching g1" a.err 2>/dev/null && break; sleep 0.02; done
grep -q "watching g1" a.err || fail "attach did not start: $(cat a.err)"
sleep 0.2
kill -9 $HP; wait $HP 2>/dev/null
st=$(state_of $TP)
case $st in t|T) fail "program left stopped (state $st) after hwbp was killed" ;; esac
wait $TP; rc=$?
[ $rc -eq 0 ] || fail "program exit status $rc after hwbp was killed during attach (expected 0)"
[ -s a.txt ] || fail "no hit was reported before the kill: the test did not test anything"

# run: the program is hwbp's child; once hwbp dies it must still finish on its own.
"$HWBP" run --watch g0 --json -o r.txt -- "$PROGS/many_globals" long 2> r.err & HP=$!
for _ in $(seq 50); do grep -q "watching g0" r.err 2>/dev/null && break; sleep 0.02; done
TP=$(sed -n 's/.* in process \([0-9]*\).*/\1/p' r.err | head -1)
[ -n "$TP" ] || fail "run did not start: $(cat r.err)"
sleep 0.2
kill -9 $HP; wait $HP 2>/dev/null
st=$(state_of "$TP")
case $st in t|T) fail "program left stopped (state $st) after hwbp run was killed" ;; esac
[ -n "$st" ] || fail "program died with hwbp run (it had ~0.8 s left to run)"
for _ in $(seq 100); do [ -z "$(state_of "$TP")" ] || [ "$(state_of "$TP")" = Z ] && break; sleep 0.05; done
st=$(state_of "$TP")
[ -z "$st" ] || [ "$st" = Z ] || fail "program still running 5 s later (state $st)"
[ -s r.txt ] || fail "no hit was reported before the kill"
echo PASS
