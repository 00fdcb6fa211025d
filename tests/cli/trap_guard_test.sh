#!/usr/bin/env bash
# The SIGTRAP guard `hwbp run` preloads into the program (tools/hwbp/trap_guard, issue 12): a
# SIGTRAP of hwbp's left behind by a tracing worker killed with SIGKILL must not kill the
# program; every other SIGTRAP keeps its meaning (the program's own handler, or the default
# action). trap_probe sends itself real perf SIGTRAPs (a software event with sigtrap: no debug
# registers needed) with hwbp's tag or another one.
set -u
HWBP=$1; DIR=$2; PROGS=$3
mkdir -p "$DIR"; cd "$DIR" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
GUARD=$(dirname "$HWBP")/libhwbp_trap_guard.so
[ -r "$GUARD" ] || fail "the guard library was not built next to hwbp: $GUARD"
probe=$PROGS/trap_probe
"$probe" tool 1 > /dev/null 2>&1; rc=$?
[ $rc -eq 3 ] && { echo "SKIP: perf software events with sigtrap cannot be opened here (Linux 5.13+)"; exit 77; }

# Without the guard the probe dies of hwbp's tag: the probe works, the cases below mean something.
"$probe" tool 50 > /dev/null 2>&1; rc=$?
[ $rc -eq 133 ] || fail "without the guard: exit $rc, expected 133 (SIGTRAP)"
out=$(LD_PRELOAD=$GUARD "$probe" tool 50); rc=$?
[ $rc -eq 0 ] || fail "hwbp-tagged SIGTRAPs killed the program despite the guard (exit $rc)"
[ "$out" = "survived 50, own handler saw 0" ] || fail "hwbp-tagged SIGTRAPs: '$out'"
# Not hwbp's: the default action stays.
LD_PRELOAD=$GUARD "$probe" other 50 > /dev/null 2>&1; rc=$?
[ $rc -eq 133 ] || fail "a SIGTRAP that is not hwbp's, no handler: exit $rc, expected 133 (the default action)"
# The program's own handler (installed after the guard's, through the interposed sigaction)
# sees the SIGTRAPs that are not hwbp's, and none of hwbp's.
out=$(LD_PRELOAD=$GUARD "$probe" other 50 own); rc=$?
[ $rc -eq 0 ] || fail "own handler, other tag: exit $rc"
seen=$(sed -n 's/.*own handler saw \([0-9]*\)/\1/p' <<<"$out")
[ "${seen:-0}" -gt 0 ] || fail "the program's own handler saw none of its SIGTRAPs: '$out'"
out=$(LD_PRELOAD=$GUARD "$probe" tool 50 own)
[ "$out" = "survived 50, own handler saw 0" ] || fail "hwbp-tagged SIGTRAPs reached the program's handler: '$out'"

# `hwbp run` preloads it, ahead of the user's own LD_PRELOAD.
# (An ASan build of hwbp refuses to start with a library preloaded ahead of its runtime unless
# told not to check: verify_asan_link_order=0; a plain build ignores ASAN_OPTIONS.)
env_out=$(LD_PRELOAD=libm.so.6 ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
  "$HWBP" run --pending --watch no_such_symbol -- /usr/bin/env 2> run.err)
grep -qx "LD_PRELOAD=$GUARD:libm.so.6" <<<"$env_out" ||
  fail "hwbp run did not preload the guard: $(grep LD_PRELOAD <<<"$env_out") $(tail -1 run.err)"
echo "PASS (hwbp's SIGTRAPs dropped, others delivered as before; run preloads the guard)"
