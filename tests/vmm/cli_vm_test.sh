#!/usr/bin/env bash
# hwbp vm end to end on the example kernel (examples/guest_kernel), against QEMU as the peer:
# the same console output and exit status as `qemu-system-x86_64 -kernel`; --watch names the
# planted stray write (function, file:line, exact old -> new) in human and JSON output; every
# write of a counter with chained values; --break; more watches than debug registers (write
# traps, the mechanism named); bad input as one line and a non-zero status.
# Usage: cli_vm_test.sh HWBP KERNEL KERNEL_SOURCE WORKDIR
set -u
HWBP=$1; KERNEL=$2; SRC=$3; DIR=$4
mkdir -p "$DIR"; cd "$DIR" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
  echo "SKIP: no usable /dev/kvm on this machine — the vm.* copy of this test runs it in the test VM"
  exit 77
fi
line=$(grep -n '/\* LINE-STRAY-WRITE \*/' "$SRC" | cut -d: -f1)
counter_line=$(grep -n '  counter = counter + by;' "$SRC" | cut -d: -f1)

# 1. Console and exit status, and the same under QEMU (TCG) when it is installed.
"$HWBP" vm -m 64 "$KERNEL" -- loops=6 exit=5 > boot.out 2> boot.err; rc=$?
[ $rc -eq 11 ] || fail "exit status $rc, expected 11 ((5 << 1) | 1): $(cat boot.err)"
printf 'hwbp example kernel\nmemory: ok\ncmdline: %s loops=6 exit=5\ncounter 21, max_retries 5 (corrupted!)\n' "$KERNEL" > expected.out
diff expected.out boot.out > /dev/null || fail "console differs: $(diff expected.out boot.out)"
if command -v qemu-system-x86_64 > /dev/null; then
  timeout 120 qemu-system-x86_64 -accel tcg -display none -serial stdio -nodefaults -no-reboot -m 64 \
    -kernel "$KERNEL" -append "loops=6 exit=5" -device isa-debug-exit,iobase=0xf4,iosize=0x04 > qemu.out 2> qemu.err
  qrc=$?
  [ $qrc -eq $rc ] || fail "QEMU exits $qrc, hwbp vm $rc"
  diff qemu.out boot.out > /dev/null || fail "QEMU's console differs: $(diff qemu.out boot.out)"
  echo "same as QEMU: console and exit status $rc"
else
  echo "note: qemu-system-x86_64 not installed here (scripts/install-deps.sh installs it): peer comparison skipped"
fi

# 2. The stray write: culprit function, line, old -> new, exit status 3 (the kernel saw it).
"$HWBP" vm -m 64 --watch max_retries "$KERNEL" > stray.out 2> stray.err; rc=$?
[ $rc -eq 3 ] || fail "stray: exit status $rc: $(cat stray.err)"
grep -q '^hwbp: watching max_retries: 4 bytes at 0x[0-9a-f]* (modify) in the guest, by ' stray.err ||
  fail "stray: no watching line: $(cat stray.err)"
grep -q '^hit #1: max_retries \[modify\] 4 bytes at 0x[0-9a-f]*, thread 0 (vcpu0)$' stray.out || fail "stray: hit line: $(cat stray.out)"
grep -q '  old 0x00000003 (3) -> new 0x00000005 (5)$' stray.out || fail "stray: values: $(cat stray.out)"
grep -q "  in record_sample at .*kernel.c:$line\$" stray.out || fail "stray: culprit line $line: $(cat stray.out)"
grep -q '  instruction 0x[0-9a-f]*: mov \[eax\*4+0x' stray.out || fail "stray: instruction: $(cat stray.out)"
grep -q '    #1 0x[0-9a-f]* do_work at .*kernel.c:' stray.out || fail "stray: backtrace: $(cat stray.out)"
grep -q '    #2 0x[0-9a-f]* run at .*kernel.c:' stray.out || fail "stray: backtrace to run: $(cat stray.out)"
grep -q '    #3 0x[0-9a-f]* kmain at .*kernel.c:' stray.out || fail "stray: backtrace to kmain: $(cat stray.out)"
grep -q '^hwbp: 1 hit (max_retries: 1)$' stray.out || fail "stray: summary: $(tail -2 stray.out)"

# 3. JSON: the same fields as hwbp run, the mechanism in the summary.
"$HWBP" vm -m 64 --json --watch max_retries -o stray.json "$KERNEL" > /dev/null 2>&1; rc=$?
[ $rc -eq 3 ] || fail "json: exit status $rc"
python3 - "$line" stray.json <<'PY' || fail "json: $(cat stray.json)"
import json, sys
line = int(sys.argv[1]); rows = [json.loads(l) for l in open(sys.argv[2])]
hits = [r for r in rows if r["event"] == "hit"]; summary = rows[-1]
assert len(hits) == 1, hits
h = hits[0]
assert (h["old"], h["new"], h["func"], h["line"], h["thread"]) == ("0x00000003", "0x00000005", "record_sample", line, "vcpu0"), h
assert h["stack"][1]["func"] == "do_work", h["stack"]
assert summary["event"] == "summary" and summary["hits"] == 1 and summary["mode"] == "kvm", summary
assert summary["watches"][0]["mechanism"], summary
PY

# 4. Every write of counter, values chained (0 -> 1 -> 3 -> 6 -> 10 -> 15), and --count.
"$HWBP" vm -m 64 --watch counter --stack 0 "$KERNEL" > counter.out 2> counter.err; rc=$?
[ $rc -eq 3 ] || fail "counter: exit status $rc: $(cat counter.err)"
prev=0
for n in 1 2 3 4 5; do
  next=$((prev + n))
  grep -q "$(printf '  old 0x%08x (%d) -> new 0x%08x (%d)$' $prev $prev $next $next)" counter.out ||
    fail "counter: write $prev -> $next missing: $(cat counter.out)"
  prev=$next
done
[ "$(grep -c "in bump_counter at .*kernel.c:$counter_line\$" counter.out)" -eq 5 ] || fail "counter: writer line: $(cat counter.out)"
"$HWBP" vm -m 64 --count --watch counter "$KERNEL" > count.out 2>&1
grep -q "bump_counter" count.out && grep -qw 5 count.out || fail "--count: $(cat count.out)"

# 5. --break: an execute breakpoint per call of record_sample.
"$HWBP" vm -m 64 --break record_sample --stack 2 "$KERNEL" > break.out 2> break.err; rc=$?
[ $rc -eq 3 ] || fail "break: exit status $rc: $(cat break.err)"
grep -q '^hwbp: 5 hits (record_sample:x: 5)$' break.out || fail "break: $(tail -3 break.out)"
grep -q '    #1 0x[0-9a-f]* do_work at' break.out || fail "break: caller frame: $(cat break.out)"

# 6. More watches than debug registers, and write traps on request: each watch says what serves
#    it, and every hit is still exact.
specs=(--watch counter --watch ticks --watch history --watch max_retries --watch 'history+4:4:w' --watch 'history+8:4:w')
"$HWBP" vm -m 64 --stack 0 "${specs[@]}" "$KERNEL" > many.out 2> many.err; rc=$?
[ $rc -eq 3 ] || fail "many: exit status $rc: $(cat many.err)"
grep -q 'by write trap' many.err || fail "many: no watch served by write traps: $(cat many.err)"
# ticks (8 bytes) is written by 32-bit code as two 4-byte stores per round: 10 changes.
grep -q '^hwbp: 22 hits (counter: 5, ticks: 10, history: 4, max_retries: 1, history+4:4:w: 1, history+8:4:w: 1)$' many.out ||
  fail "many: counts: $(tail -1 many.out) ($(cat many.err))"
last_old=$((4 * 0x100000001 + 1)); last_new=$((5 * 0x100000001))  # the high half's store of round 5
grep -q "$(printf '  old 0x%016x (%d) -> new 0x%016x (%d)$' $last_old $last_old $last_new $last_new)" many.out ||
  fail "many: ticks' last write: $(grep -A1 ticks many.out | tail -4)"
"$HWBP" vm -m 64 --engine write-trap --stack 0 --watch max_retries --watch counter "$KERNEL" > trap.out 2> trap.err
[ "$(grep -c 'by write trap' trap.err)" -eq 2 ] || fail "write-trap: $(cat trap.err)"
grep -q '  old 0x00000003 (3) -> new 0x00000005 (5)$' trap.out && grep -q "in record_sample at .*kernel.c:$line\$" trap.out ||
  fail "write-trap: stray write: $(cat trap.out)"

# 7. Bad input and a dying guest: one line, non-zero, nothing left running.
check_error() {  # expected-status pattern command...
  local want=$1 pattern=$2; shift 2
  "$@" > err.out 2> err.err; local rc=$?
  [ $rc -eq "$want" ] || fail "'$*': status $rc, expected $want: $(cat err.err)"
  [ "$(wc -l < err.err)" -eq 1 ] || fail "'$*': not one line: $(cat err.err)"
  grep -q "$pattern" err.err || fail "'$*': expected '$pattern': $(cat err.err)"
}
check_error 2 "not an ELF file" "$HWBP" vm "$SRC"
check_error 2 "no_such_symbol" "$HWBP" vm --watch no_such_symbol "$KERNEL"
check_error 2 "triple-faulted.*pc 0x" "$HWBP" vm -m 64 "$KERNEL" -- fault
check_error 2 "guest RAM is 2 to 3072 MiB" "$HWBP" vm -m 1 "$KERNEL"
echo PASS
