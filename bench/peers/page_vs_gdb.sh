#!/usr/bin/env bash
# Per-store cost of the page engine (ptrace transport) against GDB's software watchpoint on the
# same program and the same 16 KiB buffer (issue 15, section 5: at least 100x faster).
#   page  hwbp_page_watch ADDR 16384 -- ./buffer_loop N    (a `modify` page watch)
#   gdb   set can-use-hw-watchpoints 0; watch -l buf; commands silent; continue
# The workload (buffer_loop.c) stores N times into the buffer, each store changing it.
#
# Usage: bench/peers/page_vs_gdb.sh HWBP_PAGE_WATCH [N1 N2 [GDB_N1 GDB_N2]]
# Prints `cost NAME NS_PER_STORE`, then `ratio gdb_software_watch_vs_page_engine VALUE`, or
# `skip NAME: reason`. Per-store cost = (t(N2) - t(N1)) / (N2 - N1), best of 3 runs per point:
# the fixed costs (exec, symbols, GDB start-up) cancel out.
set -u
if [ $# -lt 1 ]; then
  echo "usage: $0 HWBP_PAGE_WATCH [N1 N2 [GDB_N1 GDB_N2]]" >&2
  exit 2
fi
RUNNER=$(readlink -f "$1")
N1=${2:-2000}
N2=${3:-12000}
# GDB single-steps every instruction and compares the 16 KiB after each one: milliseconds per
# store, so fewer stores (the difference still spans hundreds).
GN1=${4:-100}
GN2=${5:-400}
REPS=3
HERE=$(cd "$(dirname "$0")" && pwd)
[ -x "$RUNNER" ] || { echo "$0: $1 is not the hwbp_page_watch binary" >&2; exit 2; }

SCRATCH=$(mktemp -d /tmp/hwbp-page-peers.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT
cd "$SCRATCH" || exit 1
# Non-PIE: buf's address is fixed at link time (nm gives it; the runner arms it at exec).
cc -O1 -g -no-pie -o buffer_loop "$HERE/buffer_loop.c" || { echo "$0: cannot compile buffer_loop.c" >&2; exit 1; }
ADDR=0x$(nm buffer_loop | awk '$3 == "buf" { print $1 }')
[ "$ADDR" != 0x ] || { echo "$0: no symbol buf" >&2; exit 1; }

now() { date +%s%N; }
# timed CHECK N CMD...: best wall time (ns) of REPS runs; CHECK N must accept each run's output.
timed() {
  local check=$1 n=$2 best="" t0 t1 dt i
  shift 2
  for ((i = 0; i < REPS; i++)); do
    t0=$(now)
    "$@" >out.txt 2>err.txt || { echo "exit status $?: $(tail -n 3 err.txt | tr '\n' ' ')" >fail.txt; return 1; }
    t1=$(now)
    "$check" "$n" || return 1
    dt=$((t1 - t0))
    if [ -z "$best" ] || [ "$dt" -lt "$best" ]; then best=$dt; fi
  done
  echo "$best"
}
declare -A COST
per_store() {  # per_store NAME CHECK N1 N2 CMD_PREFIX...  (the command gets N appended)
  local name=$1 check=$2 a=$3 b=$4 ta tb
  shift 4
  if ! ta=$(timed "$check" "$a" "$@" "$a") || ! tb=$(timed "$check" "$b" "$@" "$b"); then
    echo "skip $name: $(cat fail.txt 2>/dev/null)"
    return 1
  fi
  COST[$name]=$(awk -v ta="$ta" -v tb="$tb" -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", (tb - ta) / (b - a) }')
  echo "cost $name ${COST[$name]}"
}

check_page() {
  local c
  c=$(awk '$1 == "hits" { print $2 }' out.txt)
  [ "$c" = "$1" ] || { echo "page engine counted ${c:-no} stores, expected $1" >fail.txt; return 1; }
}
page_run() { "$RUNNER" "$ADDR" 16384 -- ./buffer_loop "$1"; }
per_store page_engine check_page "$N1" "$N2" page_run

check_gdb() {
  local c
  c=$(awk '$1 == "gdb_hits" { print $2 }' out.txt)
  [ "$c" = "$1" ] || { echo "gdb counted ${c:-no} stores, expected $1" >fail.txt; return 1; }
}
if command -v gdb >/dev/null 2>&1; then
  cat >gdb.cmd <<'GDB'
set pagination off
set confirm off
set can-use-hw-watchpoints 0
set $n = 0
watch -l buf
commands
silent
set $n = $n + 1
continue
end
run
printf "gdb_hits %d\n", $n
GDB
  gdb_run() { gdb -batch -nx -x gdb.cmd --args ./buffer_loop "$1"; }
  per_store gdb_software_watch check_gdb "$GN1" "$GN2" gdb_run
else
  echo "skip gdb_software_watch: gdb is not installed (apt-get install gdb)"
fi

if [ -n "${COST[page_engine]:-}" ] && [ -n "${COST[gdb_software_watch]:-}" ]; then
  awk -v g="${COST[gdb_software_watch]}" -v p="${COST[page_engine]}" \
    'BEGIN { if (p <= 0) print "skip ratio gdb_software_watch_vs_page_engine: non-positive cost";
             else printf "ratio gdb_software_watch_vs_page_engine %.1f\n", g / p }'
fi
