#!/usr/bin/env bash
# hwbp vm end to end on the 64-bit example kernel (examples/guest_kernel: kernel.c built with
# -m64, boot64.S), entered in long mode with identity-mapped page tables: console and exit
# status; --watch on the planted stray write (exact old -> new, function, file:line, the 64-bit
# instruction, the frame-pointer backtrace down to _start) in human and JSON output; an 8-byte
# variable written by one 64-bit store per round; --break; --count; write traps through the
# guest's 4-level page tables (2 MiB pages); and GDB through --gdb-stdio with the x86-64 target
# description (no `set architecture`): break, bt, 64-bit registers, x/gx, watch old/new, stepi.
# QEMU's -kernel has no 64-bit ELF protocol: no peer comparison here (cli_vm_test.sh has it).
# Usage: cli_vm64_test.sh HWBP KERNEL64 KERNEL_SOURCE WORKDIR
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
ticks_line=$((counter_line + 1))

# 1. Console and exit status: the stray write corrupts max_retries, the kernel exits with 1.
"$HWBP" vm -m 64 "$KERNEL" > boot.out 2> boot.err; rc=$?
[ $rc -eq 3 ] || fail "exit status $rc, expected 3 ((1 << 1) | 1): $(cat boot.err)"
printf 'hwbp example kernel (64-bit)\ncounter 15, max_retries 5 (corrupted!)\n' > expected.out
diff expected.out boot.out > /dev/null || fail "console differs: $(diff expected.out boot.out)"

# 2. The stray write: exact values, culprit, 64-bit instruction, backtrace to the entry.
"$HWBP" vm -m 64 --watch max_retries "$KERNEL" > stray.out 2> stray.err; rc=$?
[ $rc -eq 3 ] || fail "stray: exit status $rc: $(cat stray.err)"
grep -q '^hwbp: watching max_retries: 4 bytes at 0x[0-9a-f]* (modify) in the guest, by ' stray.err ||
  fail "stray: no watching line: $(cat stray.err)"
grep -q '^hit #1: max_retries \[modify\] 4 bytes at 0x[0-9a-f]*, thread 0 (vcpu0)$' stray.out || fail "stray: hit line: $(cat stray.out)"
grep -q '  old 0x00000003 (3) -> new 0x00000005 (5)$' stray.out || fail "stray: values: $(cat stray.out)"
grep -q "  in record_sample at .*kernel.c:$line\$" stray.out || fail "stray: culprit line $line: $(cat stray.out)"
# 64-bit decoding: a 64-bit index register (32-bit code would say eax).
grep -q '  instruction 0x[0-9a-f]*: mov \[rax\*4+0x[0-9a-f]*\], edx$' stray.out || fail "stray: instruction: $(cat stray.out)"
grep -q '    #1 0x[0-9a-f]* do_work at .*kernel.c:' stray.out || fail "stray: backtrace: $(cat stray.out)"
grep -q '    #2 0x[0-9a-f]* run at .*kernel.c:' stray.out || fail "stray: backtrace to run: $(cat stray.out)"
grep -q '    #3 0x[0-9a-f]* kmain64 at .*kernel.c:' stray.out || fail "stray: backtrace to kmain64: $(cat stray.out)"
grep -q '    #4 0x[0-9a-f]* _start at .*boot64.S:' stray.out || fail "stray: backtrace to _start: $(cat stray.out)"
grep -q '^hwbp: 1 hit (max_retries: 1)$' stray.out || fail "stray: summary: $(tail -2 stray.out)"

# 3. JSON: the same fields.
"$HWBP" vm -m 64 --json --watch max_retries -o stray.json "$KERNEL" > /dev/null 2>&1; rc=$?
[ $rc -eq 3 ] || fail "json: exit status $rc"
python3 - "$line" stray.json <<'PY' || fail "json: $(cat stray.json)"
import json, sys
line = int(sys.argv[1]); rows = [json.loads(l) for l in open(sys.argv[2])]
hits = [r for r in rows if r["event"] == "hit"]; summary = rows[-1]
assert len(hits) == 1, hits
h = hits[0]
assert (h["old"], h["new"], h["func"], h["line"], h["thread"]) == ("0x00000003", "0x00000005", "record_sample", line, "vcpu0"), h
assert [f["func"] for f in h["stack"][:5]] == ["record_sample", "do_work", "run", "kmain64", "_start"], h["stack"]
assert summary["event"] == "summary" and summary["hits"] == 1 and summary["mode"] == "kvm", summary
PY

# 4. An 8-byte variable: one 64-bit store per round (the 32-bit kernel needs two), values chained.
"$HWBP" vm -m 64 --watch ticks --stack 0 "$KERNEL" > ticks.out 2> ticks.err; rc=$?
[ $rc -eq 3 ] || fail "ticks: exit status $rc: $(cat ticks.err)"
grep -q '^hwbp: 5 hits (ticks: 5)$' ticks.out || fail "ticks: count: $(tail -1 ticks.out)"
for n in 1 2 3 4 5; do
  old=$(((n - 1) * 0x100000001)); new=$((n * 0x100000001))
  grep -q "$(printf '  old 0x%016x (%d) -> new 0x%016x (%d)$' $old $old $new $new)" ticks.out ||
    fail "ticks: write $old -> $new missing: $(cat ticks.out)"
done
[ "$(grep -c "in bump_counter at .*kernel.c:$ticks_line\$" ticks.out)" -eq 5 ] || fail "ticks: writer line: $(cat ticks.out)"
"$HWBP" vm -m 64 --count --watch counter "$KERNEL" > count.out 2>&1
grep -q "bump_counter" count.out && grep -qw 5 count.out || fail "--count: $(cat count.out)"

# 5. --break: exec breakpoints on 64-bit code, the caller from the return address on the stack.
"$HWBP" vm -m 64 --break record_sample --stack 2 "$KERNEL" > break.out 2> break.err; rc=$?
[ $rc -eq 3 ] || fail "break: exit status $rc: $(cat break.err)"
grep -q '^hwbp: 5 hits (record_sample:x: 5)$' break.out || fail "break: $(tail -3 break.out)"
grep -q '    #1 0x[0-9a-f]* do_work at' break.out || fail "break: caller frame: $(cat break.out)"

# 6. Write traps: the guest-physical pages found through the guest's 4-level tables.
"$HWBP" vm -m 64 --engine write-trap --stack 0 --watch max_retries --watch counter "$KERNEL" > trap.out 2> trap.err
[ "$(grep -c 'by write trap' trap.err)" -eq 2 ] || fail "write-trap: $(cat trap.err)"
grep -q '  old 0x00000003 (3) -> new 0x00000005 (5)$' trap.out && grep -q "in record_sample at .*kernel.c:$line\$" trap.out ||
  fail "write-trap: stray write: $(cat trap.out)"
grep -q '^hwbp: 6 hits (max_retries: 1, counter: 5)$' trap.out || fail "write-trap: counts: $(tail -1 trap.out)"

# 7. GDB with the x86-64 description, no `set architecture`.
if command -v gdb > /dev/null; then
  cat > gdb64.gdb <<GDB
set remotetimeout 60
set pagination off
set confirm off
set width 0
target remote | $HWBP vm --gdb-stdio -m 64 $KERNEL
show architecture
break record_sample
continue
bt 3
p/x \$rsp
p sizeof(\$rip)
info registers rip
x/2gx &counter
stepi
stepi
p/x \$pc
delete
watch ticks
continue
kill
GDB
  timeout 300 gdb -batch -nx -x gdb64.gdb "$KERNEL" > gdb.out 2> gdb.err
  grep -q "not compatible\|rejected\|warning: Architecture" gdb.out gdb.err && fail "gdb: target description: $(cat gdb.out gdb.err)"
  grep -q 'currently "*i386:x86-64' gdb.out || fail "gdb: architecture: $(cat gdb.out gdb.err)"
  grep -q '^Breakpoint 1, record_sample (round=0, sample=1) at .*kernel.c:[0-9]*$' gdb.out || fail "gdb: break: $(cat gdb.out gdb.err)"
  grep -q '^#1  0x[0-9a-f]* in do_work (loops=5) at .*kernel.c:' gdb.out || fail "gdb: bt: $(cat gdb.out)"
  grep -q '^#2  0x[0-9a-f]* in run (cmdline=' gdb.out || fail "gdb: bt to run: $(cat gdb.out)"
  grep -q '^\$2 = 8$' gdb.out || fail "gdb: rip is not 8 bytes: $(cat gdb.out)"
  # GDB puts `break record_sample` after the function's prologue: where it says it did.
  bp=$(sed -n 's/^Breakpoint 1 at \(0x[0-9a-f]*\): file .*kernel.c, line [0-9]*\.$/\1/p' gdb.out)
  [ -n "$bp" ] || fail "gdb: no breakpoint address: $(cat gdb.out)"
  grep -Eq "^rip +$bp +$bp <record_sample\+[0-9]+>\$" gdb.out || fail "gdb: info registers rip ($bp): $(cat gdb.out)"
  # counter (1, 4 bytes and 4 of padding), then ticks (0x100000001) after the first round.
  grep -q ':	0x0000000000000001	0x0000000100000001$' gdb.out || fail "gdb: x/2gx &counter: $(cat gdb.out)"
  # Two stepi from the breakpoint: the third instruction there, as objdump decodes it.
  third=$(objdump -d --start-address="$bp" "$KERNEL" | awk '/^ +[0-9a-f]+:\t/ { n++; if (n == 3) { sub(":", "", $1); print "0x" $1; exit } }')
  grep -q "^\$3 = $third\$" gdb.out || fail "gdb: pc after 2 stepi (expected $third): $(cat gdb.out)"
  grep -A2 '^Hardware watchpoint 2: ticks' gdb.out | grep -q '^Old value = 4294967297$' || fail "gdb: watch ticks old: $(cat gdb.out)"
  grep -q '^New value = 8589934594$' gdb.out || fail "gdb: watch ticks new: $(cat gdb.out)"
  grep -Eq '^\[Inferior 1 \((process 1|Remote target)\) killed\]$' gdb.out || fail "gdb: kill: $(cat gdb.out gdb.err)"
else
  echo "note: gdb not installed (scripts/install-deps.sh installs it): GDB part skipped"
fi

# 8. Bad input: an upper-half 64-bit kernel is refused in one line (its p_vaddr moved high).
python3 - "$KERNEL" high.elf <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], 'rb').read())
phoff = struct.unpack_from('<Q', b, 0x20)[0]
struct.pack_into('<Q', b, phoff + 16, 0xffffffff80100000)
open(sys.argv[2], 'wb').write(b)
PY
"$HWBP" vm -m 64 high.elf > err.out 2> err.err; rc=$?
[ $rc -eq 2 ] && [ "$(wc -l < err.err)" -eq 1 ] && grep -q 'upper-half kernels are not supported' err.err ||
  fail "upper-half kernel: status $rc: $(cat err.err)"
echo PASS
