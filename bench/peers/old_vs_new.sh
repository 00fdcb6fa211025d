#!/usr/bin/env bash
# Per-hit cost of two hwbp builds, alternated in one session (issue 17's "the cost per hit stays
# within 1.1x of today's in both modes, same run"): `hwbp run` on bench/peers/loop.c (N stores of
# a new value into `counter`, a modify watch), in bpf and ptrace mode, with --count and with
# --json --stack 0 (every hit delivered as a record with its values).
#
# Usage: bench/peers/old_vs_new.sh OLD_HWBP NEW_HWBP LOOP_BINARY [N1 N2 ROUNDS]
# Prints per round `cost BUILD MODE FORMAT NS_PER_HIT` and `ratio MODE FORMAT NEW/OLD`, then the
# median ratio per configuration (`ratio median MODE FORMAT VALUE`).
#
# Why so: the host of the test VM is shared and its speed moves several times over between
# seconds, so the two builds are measured in turns (the order swapped every round) and compared
# per round; the per-hit cost is (t(N2) - t(N1)) / (N2 - N1), which cancels each run's start-up.
# Every run is checked to have reported N hits (a run that lost or dropped hits is not a cost).
# LOOP_BINARY: loop.c compiled as bench/peers/run.sh does (cc -O1 -g -no-pie).
set -u
[ $# -ge 3 ] || { echo "usage: $0 OLD_HWBP NEW_HWBP LOOP_BINARY [N1 N2 ROUNDS]" >&2; exit 2; }
OLD=$1 NEW=$2 LOOP=$3 N1=${4:-2000} N2=${5:-12000} ROUNDS=${6:-5}
SCRATCH=$(mktemp -d /tmp/hwbp-old-new.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT
cd "$SCRATCH" || exit 1
now() { date +%s%N; }

# hits_seen FORMAT: the hits the run reported (out.txt).
hits_seen() {
  if [ "$1" = count ]; then awk '$1 ~ /^[0-9]+$/ && $2 == "counter" { n += $1 } END { print n + 0 }' out.txt
  else grep -c '"event":"hit"' out.txt; fi
}

# run_once BIN MODE FORMAT N: wall time in ns, or nothing when the run did not report N hits.
run_once() {
  local bin=$1 mode=$2 format=$3 n=$4 t0 t1 args
  if [ "$format" = count ]; then args=(--count); else args=(--json --stack 0); fi
  t0=$(now)
  "$bin" run --mode "$mode" "${args[@]}" -o out.txt --watch counter -- "$LOOP" "$n" 2> err.txt || return
  t1=$(now)
  local seen; seen=$(hits_seen "$format")
  if [ "$seen" != "$n" ]; then echo "check $bin $mode $format N=$n: $seen hits reported: $(head -c 300 err.txt)" >&2; return; fi
  echo $((t1 - t0))
}

declare -A ratios
for ((round = 1; round <= ROUNDS; round++)); do
  for mode in bpf ptrace; do
    for format in count json; do
      declare -A cost=()
      order="old new"; [ $((round % 2)) -eq 0 ] && order="new old"
      for build in $order; do
        bin=$OLD; [ $build = new ] && bin=$NEW
        a=$(run_once "$bin" $mode $format "$N1"); b=$(run_once "$bin" $mode $format "$N2")
        [ -n "$a" ] && [ -n "$b" ] || continue
        cost[$build]=$(( (b - a) / (N2 - N1) ))
        echo "cost round$round $build $mode $format ${cost[$build]}"
      done
      if [ -n "${cost[old]:-}" ] && [ -n "${cost[new]:-}" ] && [ "${cost[old]}" -gt 0 ]; then
        r=$(awk -v n="${cost[new]}" -v o="${cost[old]}" 'BEGIN { printf "%.3f", n / o }')
        echo "ratio round$round $mode $format $r"
        ratios[$mode.$format]+="$r "
      fi
    done
  done
done
for key in bpf.count bpf.json ptrace.count ptrace.json; do
  vals=${ratios[$key]:-}
  [ -n "$vals" ] || { echo "ratio median ${key/./ } none"; continue; }
  med=$(tr ' ' '\n' <<<"$vals" | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
  echo "ratio median ${key/./ } $med (rounds: $vals)"
done
