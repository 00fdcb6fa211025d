#!/usr/bin/env bash
# Per-hit cost of `hwbp run` against its peers on the same workload (bench/peers/loop.c, which
# writes the watched `counter` N times):
#   perf     perf stat -e mem:ADDR/8:w        raw counted hardware-breakpoint hits (the floor)
#   hwbp     hwbp run --watch counter:w ...   --count / --json --stack 0 / human output, in
#            both delivery modes: bpf (the fast mode, root) and ptrace (the unprivileged mode)
#   gdb      hardware watchpoint with `commands silent; continue`
#   bpftrace watchpoint probe counting hits (installed with apt-get when root)
#
# Usage: bench/peers/run.sh HWBP_BINARY [N1 N2 [GDB_N1 GDB_N2]]
# Prints `cost NAME NS_PER_HIT` lines, then `ratio NAME VALUE` lines; `skip NAME: reason` for a
# tool that cannot be measured here.
#
# Why two N: every tool has a fixed cost per run (exec, symbol loading, arming, GDB's startup)
# that dwarfs a few microseconds per hit at any reasonable N. Timing the same tool at N1 and N2
# and taking (t(N2) - t(N1)) / (N2 - N1) cancels that fixed part and leaves the per-hit cost.
# Best of 3 per point: noise only adds time, so the minimum is the least disturbed run.
set -u

if [ $# -lt 1 ]; then
  echo "usage: $0 HWBP_BINARY [N1 N2 [GDB_N1 GDB_N2]]" >&2
  exit 2
fi
HWBP=$(readlink -f "$1")
N1=${2:-20000}
N2=${3:-120000}
# GDB costs hundreds of microseconds per hit (two ptrace stops, a context switch to gdb and
# back, breakpoint-command interpretation): smaller N keeps the whole script within ~3 minutes,
# and the difference still spans thousands of hits, so its per-hit cost stays comparable.
GN1=${4:-2000}
GN2=${5:-6000}
REPS=3
HERE=$(cd "$(dirname "$0")" && pwd)

if [ ! -x "$HWBP" ]; then
  echo "$0: $1 is not an executable hwbp binary" >&2
  exit 2
fi

# Install what is missing when we can (root with apt-get); otherwise that tool is skipped.
need() {  # need COMMAND PACKAGE
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing $2 (for $1)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2" >/dev/null 2>&1; }
  fi
  command -v "$1" >/dev/null 2>&1
}

SCRATCH=$(mktemp -d /tmp/hwbp-peers.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT
cd "$SCRATCH" || exit 1

# Non-PIE: the address of `counter` is then fixed at link time, so `nm` gives the absolute
# address that perf's mem:ADDR (and bpftrace's watchpoint:ADDR) need; with a PIE it would move
# with ASLR on every run. -O1 keeps the loop a plain store per iteration (the variable is
# volatile); -g lets hwbp and GDB resolve the name and the line.
if ! cc -O1 -g -no-pie -o loop "$HERE/loop.c"; then
  echo "$0: cannot compile $HERE/loop.c" >&2
  exit 1
fi
ADDR=0x$(nm loop | awk '$3 == "counter" { print $1 }')
if [ "$ADDR" = 0x ]; then
  echo "$0: no symbol counter in loop" >&2
  exit 1
fi

now() { date +%s%N; }

# timed CHECK N CMD...: best wall time (ns) of REPS runs of CMD (stdout to out.txt, stderr to
# err.txt); after each run, CHECK N must succeed (it checks that the tool saw N hits).
# Prints the time, or nothing when a run failed or a check did not pass (reason in fail.txt).
timed() {
  local check=$1 n=$2 best="" t0 t1 dt i
  shift 2
  for ((i = 0; i < REPS; i++)); do
    t0=$(now)
    "$@" >out.txt 2>err.txt
    local rc=$?
    t1=$(now)
    if [ $rc -ne 0 ]; then
      echo "exit status $rc: $(tail -n 3 err.txt | tr '\n' ' ')" >fail.txt
      return 1
    fi
    if ! "$check" "$n"; then return 1; fi
    dt=$((t1 - t0))
    if [ -z "$best" ] || [ "$dt" -lt "$best" ]; then best=$dt; fi
  done
  echo "$best"
}

# per_hit NAME CHECK N1 N2 CMD_PREFIX...: the command is CMD_PREFIX followed by N.
# Sets COST[NAME] (ns per hit) and prints the cost line, or a skip line.
declare -A COST
per_hit() {
  local name=$1 check=$2 a=$3 b=$4 ta tb
  shift 4
  if ! ta=$(timed "$check" "$a" "$@" "$a") || ! tb=$(timed "$check" "$b" "$@" "$b"); then
    echo "skip $name: $(cat fail.txt 2>/dev/null)"
    return 1
  fi
  COST[$name]=$(awk -v ta="$ta" -v tb="$tb" -v a="$a" -v b="$b" \
    'BEGIN { printf "%.1f", (tb - ta) / (b - a) }')
  echo "cost $name ${COST[$name]}"
}

# --- hit checks: each tool must have seen the N writes, or its time measures something else.
# perf: the first CSV field is the count. The dynamic loader touches the variable's bytes a
# few times before main (8 extra hits here), so allow a small constant surplus; it cancels in
# the N2 - N1 difference anyway.
check_perf() {
  local c
  c=$(awk -F, '/mem:/ { print $1; exit }' err.txt)
  case $c in '' | *[!0-9]*) echo "no count in perf output: $(tr '\n' ' ' <err.txt)" >fail.txt; return 1 ;; esac
  if [ "$c" -lt "$1" ] || [ "$c" -gt $(($1 + 64)) ]; then
    echo "perf counted $c hits, expected $1" >fail.txt
    return 1
  fi
}
# hwbp --count: a table of hits per (watch, function, line); sum the hits column.
check_hwbp_count() {
  local c
  c=$(awk '$2 == "counter:w" { s += $1 } END { print s + 0 }' out.txt)
  [ "$c" -eq "$1" ] || { echo "hwbp --count reported $c hits, expected $1" >fail.txt; return 1; }
}
# The output modes below are timed with stdout to /dev/null (via CMD), so nothing to check per
# run; a separate untimed run checks the hit count once.
check_none() { return 0; }
check_gdb() {
  local c
  c=$(awk '$1 == "gdb_hits" { print $2 }' out.txt)
  [ "$c" = "$1" ] || { echo "gdb counted ${c:-no} hits, expected $1" >fail.txt; return 1; }
}
check_bpftrace() {
  local c
  c=$(awk -F'[: ]+' '/^@n/ { print $2 }' out.txt)
  [ "${c:-0}" -ge "$1" ] && [ "${c:-0}" -le $(($1 + 64)) ] || { echo "bpftrace counted ${c:-no} hits, expected $1" >fail.txt; return 1; }
}

# --- perf: the floor, a hardware breakpoint counted in the kernel with no signal or stop.
if need perf linux-perf; then
  per_hit perf_counted check_perf "$N1" "$N2" perf stat -e "mem:$ADDR/8:w" -x, -- ./loop
else
  echo "skip perf: perf not installed (and not root to install linux-perf)"
fi

# --- hwbp run, in three output modes and both delivery modes. w = every write (the default,
# modify, would also report every write here since each write changes the value, but w matches
# perf's event exactly). The bpf mode is measured only where `hwbp doctor` says it works.
MODES="ptrace"
if "$HWBP" doctor 2>/dev/null | grep -Eq '^ok +bpf mode'; then
  MODES="bpf ptrace"
else
  echo "skip hwbp bpf mode: $("$HWBP" doctor 2>&1 | grep -E 'bpf mode')"
fi
hwbp_to_null() { "$HWBP" run --watch counter:w "$@" >/dev/null; }
hwbp_json_check() {  # MODE
  "$HWBP" run --mode "$1" --watch counter:w --json --stack 0 -- ./loop "$N1" >out.txt 2>err.txt
  local c
  c=$(grep -c '"event":"hit"' out.txt)
  [ "$c" -eq "$N1" ] || { echo "hwbp --json printed $c hits, expected $N1" >fail.txt; return 1; }
}
hwbp_human_check() {  # MODE
  "$HWBP" run --mode "$1" --watch counter:w -- ./loop "$N1" >out.txt 2>err.txt
  local c
  c=$(grep -c '^hit #' out.txt)
  [ "$c" -eq "$N1" ] || { echo "hwbp printed $c hits, expected $N1" >fail.txt; return 1; }
}
for mode in $MODES; do
  per_hit "hwbp_${mode}_count" check_hwbp_count "$N1" "$N2" \
    "$HWBP" run --mode "$mode" --watch counter:w --count -- ./loop
  if hwbp_json_check "$mode"; then
    per_hit "hwbp_${mode}_json" check_none "$N1" "$N2" hwbp_to_null --mode "$mode" --json --stack 0 -- ./loop
  else
    echo "skip hwbp_${mode}_json: $(cat fail.txt)"
  fi
  if hwbp_human_check "$mode"; then
    per_hit "hwbp_${mode}_human" check_none "$N1" "$N2" hwbp_to_null --mode "$mode" -- ./loop
  else
    echo "skip hwbp_${mode}_human: $(cat fail.txt)"
  fi
done

# --- GDB: hardware watchpoint (watch -l = on the location, so it stays a hardware watchpoint
# regardless of scope), silent continue on every hit; $n counts hits so we can check them.
if need gdb gdb; then
  cat >gdb.cmd <<'GDB'
set pagination off
set confirm off
set $n = 0
watch -l counter
commands
silent
set $n = $n + 1
continue
end
run
printf "gdb_hits %d\n", $n
GDB
  gdb_run() { gdb -batch -nx -x gdb.cmd --args ./loop "$1"; }
  per_hit gdb check_gdb "$GN1" "$GN2" gdb_run
else
  echo "skip gdb: gdb not installed (and not root to install it)"
fi

# --- bpftrace: a watchpoint probe that only counts (it cannot read the value or resolve a name).
if need bpftrace bpftrace; then
  bpf_run() {
    bpftrace -q -e "watchpoint:$ADDR:8:w { @n = count(); }" -c "./loop $1"
  }
  per_hit bpftrace check_bpftrace "$N1" "$N2" bpf_run
else
  echo "skip bpftrace: not installed (and not root to install it)"
fi

# --- ratios (larger = the second tool is cheaper per hit, except the first line, which is
# hwbp's overhead over the raw counted hit).
ratio() {  # ratio NAME NUMERATOR DENOMINATOR
  local x=${COST[$2]:-} y=${COST[$3]:-}
  if [ -z "$x" ] || [ -z "$y" ]; then
    echo "skip ratio $1: missing cost"
    return
  fi
  awk -v n="$1" -v x="$x" -v y="$y" 'BEGIN { if (y <= 0) print "skip ratio " n ": non-positive cost"; else printf "ratio %s %.2f\n", n, x / y }'
}
# hwbp_run_* = `hwbp run` as a user gets it here (auto: bpf where allowed, else ptrace).
DEFAULT=${MODES%% *}
for fmt in count json human; do
  [ -n "${COST[hwbp_${DEFAULT}_${fmt}]:-}" ] && COST[hwbp_run_${fmt}]=${COST[hwbp_${DEFAULT}_${fmt}]}
done
echo "note hwbp_run_* = --mode $DEFAULT"
ratio hwbp_run_count_vs_perf_counted hwbp_run_count perf_counted
ratio hwbp_ptrace_count_vs_perf_counted hwbp_ptrace_count perf_counted
for fmt in count json human; do
  ratio "gdb_vs_hwbp_run_${fmt}" gdb "hwbp_run_${fmt}"
  ratio "gdb_vs_hwbp_ptrace_${fmt}" gdb "hwbp_ptrace_${fmt}"
done
if [ -n "${COST[bpftrace]:-}" ]; then
  ratio bpftrace_vs_perf_counted bpftrace perf_counted
  ratio hwbp_run_count_vs_bpftrace hwbp_run_count bpftrace
fi
