#!/usr/bin/env bash
# Every error is one line on stderr and a non-zero exit; nothing runs when the request is bad.
set -u
HWBP=$1; DIR=$2; PROGS=$3
SRC=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$DIR"; cd "$DIR" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/expect_error.sh"
# In a dynamic executable a name is looked up again once the loader has mapped the libraries
# (its hook: a uprobe where they open — root —, else an execute debug register, or an int3
# where debug exceptions are not delivered).
expect_error "no symbol 'countr'.*did you mean: counter" "$HWBP" run --watch countr -- "$PROGS/writes"
expect_error "did you mean: counter" "$HWBP" run --watch countr -- "$PROGS/writes_static"
expect_error "watch spec 'counter:zz'" "$HWBP" run --watch counter:zz -- "$PROGS/writes"
# --engine hw: 64 bytes do not fit the debug registers (auto would use the page engine).
if [ "${HWBP_TEST_HITS:-1}" = 1 ]; then
  expect_error "needs 8 debug-register slots.*4 slots" "$HWBP" run --engine hw --watch counter:64 -- "$PROGS/writes"
else
  expect_error "debug exceptions are not delivered on this machine.*--engine page or auto" \
    "$HWBP" run --engine hw --watch counter -- "$PROGS/writes"
fi
expect_error "the page engine watches stores only" "$HWBP" run --engine page --watch counter:rw -- "$PROGS/writes"
expect_error "drop --flexible" "$HWBP" run --engine page --flexible --watch counter -- "$PROGS/writes"
expect_error "--engine: turbo not in {auto,hw,page}" "$HWBP" run --engine turbo --watch counter -- "$PROGS/writes"
expect_error "program 'no_such_program_hwbp' not found" "$HWBP" run --watch counter -- no_such_program_hwbp
expect_error "cannot run '/nonexistent/prog'" "$HWBP" run --watch counter -- /nonexistent/prog
expect_error "bad --if expression" "$HWBP" run --if 'new=1' --watch counter -- "$PROGS/writes"
expect_error "choose one of" "$HWBP" run --json --count --watch counter -- "$PROGS/writes"
# A dead PID.
sleep 0 & dead=$!; wait $dead
expect_error "process $dead does not exist" "$HWBP" attach -p $dead --watch counter
# Unknown name in a running process: hwbp detaches, the process is unharmed.
# It runs until told to stop (SIGUSR1): hwbp's start-up under ASan or in the emulated test VM
# never outlives it. Attached once it is running.
"$PROGS/busy" signal > busy.out & TP=$!
for _ in $(seq 100); do grep -q '^pid' busy.out 2>/dev/null && break; sleep 0.05; done
expect_error "no symbol 'hott'.*did you mean: hot" "$HWBP" attach -p $TP --watch hott
kill -0 $TP 2>/dev/null || fail "attach error killed the process"
kill -USR1 $TP; wait $TP || fail "attach error harmed the process"
grep -q 'busy done' busy.out || fail "attach error: process did not finish"
# Without privilege (as user nobody): --mode bpf is refused in one line naming the capabilities;
# the default (auto) falls back to the ptrace mode and still reports every hit.
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
if [ "${HWBP_MODE:-}" != bpf ] || [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null; then
  :  # needs root (to drop to nobody) and the bpf pass of this script
elif ! as_nobody test -x "$HWBP" -a -x "$PROGS/writes"; then
  echo "note: unprivileged checks not run: user nobody cannot execute $HWBP (a build under a private directory)"
else
  (cd /tmp && as_nobody "$HWBP" run --mode bpf --watch counter -- "$PROGS/writes") > nb.out 2> nb.err; rc=$?
  [ $rc -eq 2 ] || fail "unprivileged --mode bpf: exit $rc, expected 2"
  [ "$(wc -l < nb.err)" -eq 1 ] && grep -q "CAP_BPF and CAP_PERFMON.*--mode ptrace" nb.err \
    || fail "unprivileged --mode bpf: $(cat nb.err)"
  grep -q MARK nb.out && fail "unprivileged --mode bpf: the program ran"
  (cd /tmp && HWBP_MODE=auto as_nobody "$HWBP" run --json --stack 0 --watch counter -- "$PROGS/writes") > na.out 2> na.err
  tail -1 na.out | grep -q '"hits":3,.*"mode":"ptrace"' || fail "unprivileged auto mode: $(tail -1 na.out) $(cat na.err)"
fi

echo PASS
