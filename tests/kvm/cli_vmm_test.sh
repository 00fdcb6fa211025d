#!/usr/bin/env bash
# hwbp run / hwbp attach on a VMM that debugs its guest with hwbp::kvm (all four debug registers
# hit over and over): the CLI's watch on the VMM's own variable sees every write the VMM makes
# after each exit, with chained values and the writing line. KVM puts the host's breakpoints back
# after every guest run (hw_breakpoint_restore()), or these would be lost.
set -u
HWBP=$1; DIR=$2; PROGS=$3
SRC=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$DIR"; cd "$DIR" || exit 1
rm -f go *.txt *.err *.out
fail() { echo "FAIL: $*"; [ -n "${TP:-}" ] && kill "$TP" 2>/dev/null; exit 1; }
wait_for() { for _ in $(seq 300); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
  echo "SKIP: no usable /dev/kvm on this machine — the vm.* copy of this test runs it in the test VM"
  exit 77
fi
[ -x "$PROGS/debugging_vmm" ] || fail "test program missing: $PROGS/debugging_vmm"
line=$(grep -n 'LINE-VMM-WRITE' "$SRC/programs/debugging_vmm.cpp" | cut -d: -f1)

# An ASan build of the VMM (the build-asan tree) refuses to start under `hwbp run` with hwbp's
# trap guard ahead of its runtime in LD_PRELOAD unless told not to check (as in
# trap_guard_test.sh), and its LeakSanitizer ends it with a fatal error (status 1) when it exits
# under ptrace, as it does under `hwbp run` and `hwbp attach` ("LeakSanitizer does not work under
# ptrace"): both off for the VMMs of this test (hwbp passes its environment on). A plain build
# ignores ASAN_OPTIONS.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0:detect_leaks=0

# run: the VMM from its start.
"$HWBP" run -o run.txt --watch vmm_exits --stack 0 -- "$PROGS/debugging_vmm" 200 > run.out 2> run.err
rc=$?
[ $rc -eq 0 ] || fail "run: exit status $rc: $(cat run.out run.err)"
exits=$(sed -n 's/^finished exits=\([0-9]*\) .*guest=done$/\1/p' run.out)
[ -n "$exits" ] && [ "$exits" -ge 800 ] || fail "run: the VMM did not finish its guest: $(cat run.out)"
grep -q "hwbp: $exits hits (vmm_exits: $exits)" run.txt || fail "run: expected $exits hits: $(tail -3 run.txt)"
grep -q 'old 0x0000000000000000 (0) -> new 0x0000000000000001 (1)' run.txt || fail "run: first write 0 -> 1"
last=$(printf '0x%016x (%d) -> new 0x%016x (%d)' $((exits - 1)) $((exits - 1)) "$exits" "$exits")
grep -q "old $last" run.txt || fail "run: last write $((exits - 1)) -> $exits missing"
[ "$(grep -c "debugging_vmm.cpp:$line\$" run.txt)" -eq "$exits" ] || fail "run: writer line $line not on every hit"

# attach: to the VMM before its guest starts.
"$PROGS/debugging_vmm" 200 "$DIR/go" > attach.out 2> attach.vmm.err & TP=$!
wait_for '^pid' attach.out || fail "attach: the VMM did not start"
"$HWBP" attach -p $TP -o attach.txt --watch vmm_exits --stack 0 --duration 120 2> attach.err & HP=$!
wait_for 'watching vmm_exits' attach.err || fail "attach: hwbp did not arm: $(cat attach.err)"
touch go
wait $TP; trc=$?
wait $HP; hrc=$?
TP=
[ $trc -eq 0 ] || fail "attach: VMM exit status $trc: $(cat attach.out attach.vmm.err)"
[ $hrc -eq 0 ] || fail "attach: hwbp exit status $hrc: $(cat attach.err)"
exits=$(sed -n 's/^finished exits=\([0-9]*\) .*guest=done$/\1/p' attach.out)
grep -q "hwbp: $exits hits (vmm_exits: $exits)" attach.txt || fail "attach: expected $exits hits: $(tail -3 attach.txt)"
echo PASS
