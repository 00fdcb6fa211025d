#!/usr/bin/env bash
# GDB against `hwbp vm --gdb-stdio` on the example kernel, and the same session against QEMU's
# own gdbstub (TCG) on the same kernel as the peer: break (served by a debug register), bt,
# registers, memory, stepi x3 with the right pcs, watch with old/new values, rwatch/awatch, six
# watchpoints at once (more than the four debug registers: write traps serve the rest), set var
# writing guest memory, kill. Both must print the same (pcs, values, stop locations), and hwbp's
# session needs no `set architecture` for this 32-bit kernel (QEMU's does). Then hwbp alone:
# detach, and Ctrl-C of a running guest over TCP (twice: no stale stop request).
# Usage: gdb_session_test.sh HWBP KERNEL SCRIPT WORKDIR
set -u
HWBP=$1; KERNEL=$2; SCRIPT=$3; DIR=$4
mkdir -p "$DIR"; cd "$DIR" || exit 1
fail() { echo "FAIL: $*"; [ -s hwbp.err ] && echo "hwbp/gdb stderr: $(cat hwbp.err)"; exit 1; }
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
  echo "SKIP: no usable /dev/kvm on this machine — the vm.* copy of this test runs it in the test VM"
  exit 77
fi
command -v gdb > /dev/null || { echo "SKIP: gdb is not installed (scripts/install-deps.sh installs it)"; exit 77; }

# What both sessions must agree on: stop locations as function:line, pcs and values, memory.
normalize() {
  # From the first breakpoint on: where each target starts differs (QEMU at the BIOS reset
  # vector, hwbp vm at the kernel's entry).
  sed -E -e 's/0x0*([0-9a-f])/0x\1/g' "$1" | sed -n '/^Breakpoint 1 at /,$p' | awk '
    /^(Breakpoint|Hardware|Temporary) .*[,:] .* at .*:[0-9]+$/ || /^(0x[0-9a-f]+ in )?[a-z_]+ \(.*\) at .*:[0-9]+$/ || /^#[0-9]/ {
      # "... record_sample (round=0, sample=1) at /x/kernel.c:102" -> "stop record_sample:102"
      # (argument values differ: QEMU describes an x86-64 target for this i386 kernel)
      n = split($0, w, " "); loc = w[n]; sub(/.*:/, "", loc)
      for (i = 1; i <= n; i++) if (w[i + 1] ~ /^\(/) { print "stop " w[i] ":" loc; next }
    }
    /^(Old|New) value = / || /^Value = / || /^\$[0-9]+ = / || /^0x[0-9a-f]+ <[a-z_]+>:/ { print }
    /^Hardware (read |access \(read\/write\) )?watchpoint [0-9]+: / && !/[0-9]+: [a-z_\[\]0-9]+$/ { next }
    /^\[Inferior 1 \((process [0-9]+|Remote target)\) killed\]$/ { print "killed" }'
}

# remotetimeout: in the test VM, start-up (KVM probe, nested VM creation) can take longer than
# GDB's 2 s default; GDB would then resend qSupported and take the echo as the next reply.
{ echo "set remotetimeout 60"; echo "target remote | $HWBP vm --gdb-stdio -m 64 $KERNEL"; cat "$SCRIPT"; } > hwbp.gdb
timeout 300 gdb -batch -nx -x hwbp.gdb "$KERNEL" > hwbp.out 2> hwbp.err
grep -q "not compatible\|rejected" hwbp.out hwbp.err && fail "GDB rejected hwbp's target description: $(cat hwbp.err)"
# hwbp's own answers, checked directly.
grep -q '^Breakpoint 1, record_sample (round=0, sample=1) at .*kernel.c:[0-9]*$' hwbp.out || fail "break: $(cat hwbp.out hwbp.err)"
grep -q '^#1  0x[0-9a-f]* in do_work (loops=' hwbp.out || fail "bt: $(cat hwbp.out)"
grep -A2 '^Hardware watchpoint 2: counter' hwbp.out | grep -q 'Old value = 1' || fail "watch counter: $(cat hwbp.out)"
grep -q '^New value = 3$' hwbp.out && grep -q '^New value = 6$' hwbp.out || fail "watch values: $(cat hwbp.out)"
grep -q '^Value = 8589934594$' hwbp.out || fail "awatch ticks (read): $(cat hwbp.out)"
grep -q '^\$[0-9]* = 1000$' hwbp.out || fail "set var: $(cat hwbp.out)"
grep -Eq '^\[Inferior 1 \((process 1|Remote target)\) killed\]$' hwbp.out || fail "kill: $(cat hwbp.out hwbp.err)"
normalize hwbp.out > hwbp.norm

# Detach: breakpoints go, the guest runs on to its end. Its console goes to a file: GDB reads a
# piped target's stderr only while connected.
rm -f console.txt
printf 'set remotetimeout 60\ntarget remote | %s vm --gdb-stdio --console %s/console.txt -m 64 %s\nbreak do_work\ncontinue\ndetach\n' \
  "$HWBP" "$PWD" "$KERNEL" > detach.gdb
timeout 300 gdb -batch -nx -x detach.gdb "$KERNEL" > detach.out 2> detach.err
grep -q '^Breakpoint 1, do_work' detach.out || fail "detach: no stop at do_work: $(cat detach.out detach.err)"
grep -Eq 'Detaching from program|^\[Inferior 1 .*detached\]$' detach.out || fail "detach: $(cat detach.out detach.err)"
for _ in $(seq 100); do grep -q 'max_retries 5 (corrupted!)' console.txt && break; sleep 0.1; done
grep -q 'counter 15, max_retries 5 (corrupted!)' console.txt || fail "detach: the guest did not run on: $(cat console.txt)"

# Ctrl-C over the remote protocol itself (bash's /dev/tcp): a running guest stops with T02; the
# next continue runs until the next Ctrl-C (a stop requested as a run ends must not stop the next
# one at once); k ends the VM.
port=$((20000 + RANDOM % 20000))
"$HWBP" vm --gdb "127.0.0.1:$port" --console /dev/null -m 64 "$KERNEL" -- loops=100000000 > /dev/null 2> ctrlc.err &
vm_pid=$!
for _ in $(seq 300); do ss -ltn 2> /dev/null | grep -q ":$port " && break; sleep 0.1; done
exec 3<> "/dev/tcp/127.0.0.1/$port" || fail "Ctrl-C: cannot connect to --gdb 127.0.0.1:$port: $(cat ctrlc.err)"
reply() { local r; IFS= read -r -t "$1" -d '#' -u 3 r || return 1; printf '%s' "${r#*\$}"; }
for round in 1 2; do
  printf '$c#63' >&3
  # The ack comes at once; a stop reply within 2 s would be a spurious stop.
  if r=$(reply 2); then fail "Ctrl-C round $round: the guest stopped before Ctrl-C: '$r'"; fi
  printf '\003' >&3
  r=$(reply 60) || fail "Ctrl-C round $round: no stop reply: $(cat ctrlc.err)"
  [[ $r == T02* ]] || fail "Ctrl-C round $round: stop reply '$r', expected T02"
  printf '+' >&3
done
printf '$k#6b' >&3
# The connection stays open until hwbp vm is gone: closing it with replies unread makes the
# kernel send a reset, which can discard the k before the stub reads it (a lost connection
# detaches, and the guest would run on). Generous: tearing down the VM takes seconds here.
for _ in $(seq 600); do kill -0 $vm_pid 2> /dev/null || break; sleep 0.1; done
exec 3>&-
kill -0 $vm_pid 2> /dev/null &&
  { kill $vm_pid; fail "Ctrl-C: k did not end hwbp vm in 60 s (threads: $(ls /proc/$vm_pid/task 2> /dev/null | tr '\n' ' '))"; }
wait $vm_pid; rc=$?
[ $rc -eq 0 ] || fail "Ctrl-C: hwbp vm ended with status $rc after k: $(cat ctrlc.err)"

if ! command -v qemu-system-x86_64 > /dev/null; then
  echo "note: qemu-system-x86_64 not installed: differential part skipped"; echo PASS; exit 0
fi
# The peer's session. Debian's QEMU 7.2 under TCG (in the test VM: TCG inside TCG) now and then
# loses one of the three stepi (seen once in about ten runs: its pc one instruction short, hwbp's
# the same as in every other run), so a session that differs is run once more against a fresh
# QEMU; only a difference that repeats fails the test, and the retry is said.
qemu_session() {
  local port=$((20000 + RANDOM % 20000)) qp
  timeout 300 qemu-system-x86_64 -accel tcg -display none -serial null -nodefaults -no-reboot -m 64 -kernel "$KERNEL" \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 -gdb tcp:127.0.0.1:$port -S > qemu.log 2>&1 & qp=$!
  # Wait until QEMU listens (it starts slowly in the test VM).
  for _ in $(seq 150); do
    if command -v ss > /dev/null; then ss -ltn | grep -q ":$port " && break; else sleep 3; break; fi
    sleep 0.2
  done
  { echo "set remotetimeout 60"; echo "set architecture i386:x86-64"; echo "target remote 127.0.0.1:$port"; cat "$SCRIPT"; } > qemu.gdb
  timeout 300 gdb -batch -nx -x qemu.gdb "$KERNEL" > qemu.out 2> qemu.err
  kill $qp 2> /dev/null; wait $qp 2> /dev/null
  normalize qemu.out > qemu.norm
  [ -s qemu.norm ] || fail "QEMU's session printed nothing comparable: $(cat qemu.out qemu.err qemu.log)"
}
qemu_session
if ! diff qemu.norm hwbp.norm > diff.txt; then
  echo "note: QEMU's session differed (< QEMU, > hwbp): $(cat diff.txt); running it once more"
  qemu_session
  diff qemu.norm hwbp.norm > diff.txt || fail "hwbp and QEMU differ (< QEMU, > hwbp): $(cat diff.txt)"
fi
echo "same as QEMU's gdbstub: $(wc -l < hwbp.norm) lines"
echo PASS
