#!/usr/bin/env bash
# `hwbp vm` against its peers on the example kernel (examples/guest_kernel), issue 10's speed
# goals, all measured in one run with the tools interleaved (round r runs every tool once, the
# order reversed every other round, so a slow phase of the machine falls on all of them):
#
#   stepi   GDB's round trip of one `stepi` (GDB sends the step, the stub runs one instruction
#           and answers the stop, GDB reads the registers it needs) through `hwbp vm --gdb` vs
#           through QEMU's gdbstub (Debian's qemu-system-x86, TCG: the peer a kernel developer
#           uses), both over TCP on loopback, on the same kernel stopped at the same breakpoint
#           (do_work, which loops without I/O). Timed inside GDB (its Python) around batches of
#           stepi, so start-up and connection do not count. Goal: hwbp faster (ratio < 1).
#   count   cost per hit of `hwbp vm --count --watch counter:w` vs the raw exit rate of the
#           mechanism serving the watch (bench/vm_raw_watch_main.cpp: the same machine, the same
#           mechanism armed by hand, a bare KVM_RUN loop counting exits), for the debug register
#           (what --engine auto picks where guest data hits fire) and for a write trap.
#           Per-hit cost = (t(N2) - t(N1)) / (N2 - N1): the fixed cost of a run (exec, KVM
#           set-up, symbols) cancels. Goal: hwbp <= 1.3x raw.
#
# Usage: bench/peers/vm_vs_qemu.sh HWBP RAW_WATCH KERNEL
#   (make bench-vm-peers runs it natively where /dev/kvm is usable, and in the test VM)
# Knobs: VM_BENCH_ROUNDS (7), VM_BENCH_N1/N2 (2000/22000 rounds of the kernel's loop; write
#        traps: VM_BENCH_TRAP_N1/N2, 1000/6000),
#        VM_BENCH_STEPS (stepi per batch, 20), VM_BENCH_BATCHES (batches per session, 5),
#        VM_BENCH_PARTS ("stepi count": which of the two to measure).
# Prints `cost NAME US` (medians over rounds), `ratio NAME VALUE`, and `skip NAME: reason`.
set -u

if [ $# -ne 3 ]; then
  echo "usage: $0 HWBP RAW_WATCH KERNEL" >&2
  exit 2
fi
HWBP=$(readlink -f "$1"); RAW=$(readlink -f "$2"); KERNEL=$(readlink -f "$3")
for f in "$HWBP" "$RAW"; do [ -x "$f" ] || { echo "$0: $f is not executable (build it first)" >&2; exit 2; }; done
[ -r "$KERNEL" ] || { echo "$0: $KERNEL: no such kernel (build the guest_kernel target)" >&2; exit 2; }
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
  echo "$0: no usable /dev/kvm here (run it in the test VM: make bench-vm-peers)" >&2
  exit 2
fi
ROUNDS=${VM_BENCH_ROUNDS:-7}
N1=${VM_BENCH_N1:-2000}
N2=${VM_BENCH_N2:-22000}
# A write trap costs several exits per round of the loop (counter, and ticks on the same page):
# fewer rounds keep a run within seconds in the test VM.
TRAP_N1=${VM_BENCH_TRAP_N1:-1000}
TRAP_N2=${VM_BENCH_TRAP_N2:-6000}
STEPS=${VM_BENCH_STEPS:-20}
BATCHES=${VM_BENCH_BATCHES:-5}
# The guest loops this long while GDB steps it: it never reaches its end during a session.
FOREVER=100000000

# Install what is missing when we can (root with apt-get), as scripts/install-deps.sh does;
# otherwise that part is skipped with the reason.
need() {  # need COMMAND PACKAGE
  command -v "$1" > /dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null 2>&1; then
    echo "installing $2 (for $1)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" > /dev/null 2>&1 ||
      { apt-get update -q > /dev/null 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" > /dev/null 2>&1; }
  fi
  command -v "$1" > /dev/null 2>&1
}

SCRATCH=$(mktemp -d /tmp/hwbp-vm-peers.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT
cd "$SCRATCH" || exit 1
now() { date +%s%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A COST

# ---- stepi round trip -------------------------------------------------------------------------
# One GDB session: stop at do_work, then BATCHES batches of STEPS stepi, each batch timed by
# GDB's Python; prints `stepi_ns N` per batch and the pc at the end.
cat > stepi.py << 'PY'
import time
steps = int(gdb.parse_and_eval("$bench_steps"))
for _ in range(int(gdb.parse_and_eval("$bench_batches"))):
    t0 = time.perf_counter()
    for _ in range(steps):
        gdb.execute("stepi", to_string=True)
    print("stepi_ns %d" % int((time.perf_counter() - t0) * 1e9 / steps))
PY
wait_listen() {  # PORT PID: until something listens on PORT (QEMU starts slowly in the test VM)
  for _ in $(seq 600); do
    kill -0 "$2" 2> /dev/null || return 1
    ss -ltn 2> /dev/null | grep -q ":$1 " && return 0
    sleep 0.1
  done
  return 1
}
stepi_session() {  # NAME: appends its batches to NAME.stepi, its last pc to NAME.pc
  local name=$1 port=$((20000 + RANDOM % 20000)) pid arch=""
  if [ "$name" = hwbp ]; then
    "$HWBP" vm --gdb "127.0.0.1:$port" --console /dev/null -m 64 "$KERNEL" -- "loops=$FOREVER" > /dev/null 2> server.err &
  else
    # QEMU describes an x86-64 target even for this i386 kernel (docs/vmm.md).
    arch="set architecture i386:x86-64"
    qemu-system-x86_64 -accel tcg -display none -serial null -nodefaults -no-reboot -m 64 -kernel "$KERNEL" \
      -append "loops=$FOREVER" -device isa-debug-exit,iobase=0xf4,iosize=0x04 -gdb "tcp:127.0.0.1:$port" -S \
      > /dev/null 2> server.err &
  fi
  pid=$!
  if ! wait_listen "$port" "$pid"; then
    echo "$name: the stub did not listen on $port: $(tail -n 3 server.err | tr '\n' ' ')" > fail.txt
    kill "$pid" 2> /dev/null; wait "$pid" 2> /dev/null
    return 1
  fi
  timeout 600 gdb -batch -nx -ex "set pagination off" -ex "set confirm off" -ex "set remotetimeout 60" \
    -ex "$arch" -ex "target remote 127.0.0.1:$port" -ex "hbreak do_work" -ex "continue" \
    -ex "set \$bench_steps = $STEPS" -ex "set \$bench_batches = $BATCHES" -ex "source stepi.py" \
    -ex 'printf "pc %#x\n", $pc' -ex "kill" "$KERNEL" > gdb.out 2> gdb.err
  kill "$pid" 2> /dev/null; wait "$pid" 2> /dev/null
  if [ "$(grep -c '^stepi_ns ' gdb.out)" -ne "$BATCHES" ]; then
    echo "$name: GDB did not step: $(tail -n 3 gdb.out gdb.err | tr '\n' ' ')" > fail.txt
    return 1
  fi
  awk '$1 == "stepi_ns" { print $2 }' gdb.out >> "$name.stepi"
  awk '$1 == "pc" { print $2 }' gdb.out >> "$name.pc"
}

PARTS=${VM_BENCH_PARTS:-stepi count}
STEPI_TOOLS="hwbp"
if [[ " $PARTS " != *" stepi "* ]]; then
  STEPI_TOOLS=""
elif need gdb gdb && need qemu-system-x86_64 qemu-system-x86 && need ss iproute2; then
  STEPI_TOOLS="hwbp qemu"
else
  echo "skip stepi qemu: gdb, qemu-system-x86_64 or ss missing (and not root to install them)"
fi
if [ -n "$STEPI_TOOLS" ] && ! command -v gdb > /dev/null; then STEPI_TOOLS=""; echo "skip stepi: gdb not installed"; fi

# ---- hits of a write watch ----------------------------------------------------------------------
ADDR=0x$(nm "$KERNEL" | awk '$3 == "counter" { print $1 }')
[ "$ADDR" != 0x ] || { echo "$0: no symbol counter in $KERNEL" >&2; exit 1; }
# The kernel writes counter once per round of its loop (bump_counter); exit=0 makes its status 1.
hwbp_count() {  # ENGINE N
  "$HWBP" vm -m 64 --engine "$1" --count --watch counter:w --console /dev/null "$KERNEL" -- "loops=$2" exit=0 \
    > out.txt 2> err.txt
  local rc=$? hits
  hits=$(awk '/counter:w/ && $1 ~ /^[0-9]+$/ { s += $1 } END { print s + 0 }' out.txt)
  [ $rc -eq 1 ] && [ "$hits" -eq "$2" ] && return 0
  echo "hwbp vm --engine $1 --count: status $rc, $hits hits, expected $2: $(tail -n 3 out.txt err.txt | tr '\n' ' ')" > fail.txt
  return 1
}
raw_count() {  # MECHANISM N
  "$RAW" "$1" "$KERNEL" "$ADDR" 4 "loops=$2" exit=0 > out.txt 2> err.txt
  local rc=$? exits
  exits=$(awk '$1 == "exits" { print $2 }' out.txt)
  # A debug register sees exactly the N stores; a write trap also every other store to the page.
  if [ $rc -eq 1 ] && [ -n "$exits" ] && { [ "$1" = write-trap ] || [ "$exits" -eq "$2" ]; }; then
    echo "$exits" > "raw_$1_exits_$2"
    return 0
  fi
  echo "raw $1: status $rc, ${exits:-no} exits for $2 stores: $(tail -n 3 out.txt err.txt | tr '\n' ' ')" > fail.txt
  return 1
}
timed() {  # FILE CMD...: appends the wall time (ns) of CMD to FILE
  local file=$1 t0 t1
  shift
  t0=$(now)
  "$@" || return 1
  t1=$(now)
  echo $((t1 - t0)) >> "$file"
}
# One pair of runs (N1, N2) of a counting tool: its per-hit cost (ns) for this round.
count_round() {  # NAME CMD ENGINE
  local name=$1 cmd=$2 engine=$3 n1=$N1 n2=$N2
  [ "$engine" = write-trap ] && n1=$TRAP_N1 n2=$TRAP_N2
  rm -f t1 t2
  timed t1 "$cmd" "$engine" "$n1" && timed t2 "$cmd" "$engine" "$n2" || return 1
  echo $((($(cat t2) - $(cat t1)) / (n2 - n1))) >> "$name.count"
}
COUNT_TOOLS="hwbp_hardware:hwbp_count:hardware raw_debug_register:raw_count:debug-register
hwbp_write_trap:hwbp_count:write-trap raw_write_trap:raw_count:write-trap"
[[ " $PARTS " == *" count "* ]] || COUNT_TOOLS=""

declare -A BROKEN
run_tool() {  # SPEC (name:command:argument or stepi:name)
  local name=${1%%:*} rest=${1#*:}
  [ -n "${BROKEN[$name]:-}" ] && return
  local ok=0
  case $name in
    stepi_*) stepi_session "${name#stepi_}" || ok=1 ;;
    *) count_round "$name" "${rest%%:*}" "${rest#*:}" || ok=1 ;;
  esac
  if [ $ok -ne 0 ]; then BROKEN[$name]=1; echo "skip $name: $(cat fail.txt)"; fi
}
SPECS=""
for t in $STEPI_TOOLS; do SPECS+="stepi_$t "; done
SPECS+=$(echo "$COUNT_TOOLS" | tr '\n' ' ')
for ((r = 1; r <= ROUNDS; r++)); do
  order=$SPECS
  [ $((r % 2)) -eq 0 ] && order=$(echo "$SPECS" | tr ' ' '\n' | tac | tr '\n' ' ')
  for spec in $order; do run_tool "$spec"; done
done

# ---- results ------------------------------------------------------------------------------------
cost() {  # NAME FILE: median (us) of the file's ns values
  [ -s "$2" ] || return
  COST[$1]=$(median < "$2" | awk '{ printf "%.2f", $1 / 1000 }')
  echo "cost $1 ${COST[$1]} us (median of $(wc -l < "$2"): $(sort -n "$2" | awk '{ printf "%.1f ", $1 / 1000 }'))"
}
for t in $STEPI_TOOLS; do cost "stepi_$t" "$t.stepi"; done
for spec in $COUNT_TOOLS; do cost "${spec%%:*}" "${spec%%:*}.count"; done
for m in debug-register:$N1:$N2 write-trap:$TRAP_N1:$TRAP_N2; do
  IFS=: read -r m n1 n2 <<< "$m"
  [ -s "raw_${m}_exits_$n2" ] && [ -s "raw_${m}_exits_$n1" ] &&
    echo "note raw $m: $(awk -v a="$(cat "raw_${m}_exits_$n1")" -v b="$(cat "raw_${m}_exits_$n2")" \
      -v n1="$n1" -v n2="$n2" 'BEGIN { printf "%.2f", (b - a) / (n2 - n1) }') exits per store of counter"
done
if [ -s hwbp.pc ] && [ -s qemu.pc ]; then
  if [ "$(sort -u hwbp.pc qemu.pc | wc -l)" -eq 1 ]; then echo "note stepi: both stubs ended at pc $(head -1 hwbp.pc) after every session"
  else echo "note stepi: pcs after the sessions differ: hwbp $(sort -u hwbp.pc | tr '\n' ' ')qemu $(sort -u qemu.pc | tr '\n' ' ')"; fi
fi
# The ratio is paired: per round, the numerator's median over that round's samples divided by
# the denominator's (both measured minutes apart at most, under the same load), then the median
# of those per-round ratios. The ratio of the overall medians is noted next to it.
ratio() {  # NAME NUMERATOR_FILE DENOMINATOR_FILE SAMPLES_PER_ROUND NUMERATOR DENOMINATOR
  local x=${COST[$5]:-} y=${COST[$6]:-} per_round
  if [ -z "$x" ] || [ -z "$y" ]; then echo "skip ratio $1: missing cost"; return; fi
  if [ "$(wc -l < "$2")" -ne "$(wc -l < "$3")" ]; then echo "skip ratio $1: not measured in every round"; return; fi
  per_round=$(paste "$2" "$3" | awk -v k="$4" '
    function med(a, n,   i, j, t) {
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    { x[++n] = $1; y[n] = $2
      if (n == k) { mx = med(x, n); my = med(y, n); if (my > 0 && mx > 0) print mx / my; n = 0 } }')
  if [ -z "$per_round" ]; then echo "skip ratio $1: non-positive costs"; return; fi
  echo "ratio $1 $(echo "$per_round" | median | awk '{ printf "%.2f", $1 }')"
  echo "note $1: per round $(echo "$per_round" | awk '{ printf "%.2f ", $1 }'); ratio of the medians" \
    "$(awk -v x="$x" -v y="$y" 'BEGIN { printf "%.2f", x / y }')"
}
ratio vm_stepi_hwbp_vs_qemu hwbp.stepi qemu.stepi "$BATCHES" stepi_hwbp stepi_qemu
ratio vm_count_hardware_vs_raw hwbp_hardware.count raw_debug_register.count 1 hwbp_hardware raw_debug_register
ratio vm_count_write_trap_vs_raw hwbp_write_trap.count raw_write_trap.count 1 hwbp_write_trap raw_write_trap
