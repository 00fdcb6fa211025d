#!/usr/bin/env bash
# Per-hit cost of two hwbp builds, alternated in one session (issue 17: "the cost per hit stays
# within 1.1x of today's in both modes, same run"): `hwbp run` on bench/peers/timed_loop.c (N
# stores of a new value into `counter`, a modify watch), in bpf and ptrace mode, with --count and
# with --json --stack 0 (every hit delivered with its values).
#
# Usage: bench/peers/old_vs_new.sh OLD_HWBP NEW_HWBP TIMED_LOOP [ROUNDS]
# (CONFIGS="bpf.count ..." limits the configurations; N_BPF_COUNT, N_BPF_JSON, N_PTRACE the hits)
# Prints per run `cost roundR BUILD MODE FORMAT PROGRAM_NS WALL_NS` and per round
# `ratio roundR MODE FORMAT PROGRAM_RATIO WALL_RATIO` (new / old), then the medians.
#   PROGRAM_NS  the watched program's own loop time per store (timed_loop prints it): what a hit
#               costs the program (the trap and the BPF program in the kernel, or the ptrace stop)
#   WALL_NS     hwbp's whole run over N: also start-up, hwbp's own processing of the records
#               (bpf mode reads them asynchronously and may finish after the program) and exit
# Why so: the test VM's host is shared and its speed moves several times over within seconds, so
# the two builds run in turns (the order swapped every round) and are compared per round. Every
# run must have reported all N hits (a run that lost or dropped hits measures nothing).
# TIMED_LOOP: timed_loop.c compiled without -g (cc -O1), so that neither build prints typed
# values (issue 11, absent from a build before it) and only the delivery differs.
set -u
[ $# -ge 3 ] || { echo "usage: $0 OLD_HWBP NEW_HWBP TIMED_LOOP [ROUNDS]" >&2; exit 2; }
OLD=$1 NEW=$2 LOOP=$3 ROUNDS=${4:-5}
# Hits per run: a ptrace stop costs milliseconds in the TCG VM, a bpf hit tens of microseconds.
declare -A N=([bpf.count]=${N_BPF_COUNT:-20000} [bpf.json]=${N_BPF_JSON:-4000}
              [ptrace.count]=${N_PTRACE:-1500} [ptrace.json]=${N_PTRACE:-1500})
SCRATCH=$(mktemp -d /tmp/hwbp-old-new.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT
cd "$SCRATCH" || exit 1
now() { date +%s%N; }

hits_seen() {  # FORMAT: the hits the run reported (out.txt)
  if [ "$1" = count ]; then awk '$1 ~ /^[0-9]+$/ && $2 == "counter" { n += $1 } END { print n + 0 }' out.txt
  else grep -c '"event":"hit"' out.txt; fi
}

# run_once BIN MODE FORMAT N: "PROGRAM_NS WALL_NS", or nothing when the run did not report N hits.
run_once() {
  local bin=$1 mode=$2 format=$3 n=$4 t0 t1 args
  if [ "$format" = count ]; then args=(--count); else args=(--json --stack 0); fi
  t0=$(now)
  "$bin" run --mode "$mode" "${args[@]}" -o out.txt --watch counter -- "$LOOP" "$n" > prog.txt 2> err.txt || return
  t1=$(now)
  local seen; seen=$(hits_seen "$format")
  if [ "$seen" != "$n" ]; then echo "check $bin $mode $format N=$n: $seen hits reported: $(head -c 300 err.txt)" >&2; return; fi
  echo "$(awk '$1 == "ns_per_store" { print $2 }' prog.txt) $(( (t1 - t0) / n ))"
}

declare -A ratios walls best_p best_w
for ((round = 1; round <= ROUNDS; round++)); do
  for key in ${CONFIGS:-bpf.count bpf.json ptrace.count ptrace.json}; do
    mode=${key%.*} format=${key#*.}
    declare -A cost=()
    order="old new"; [ $((round % 2)) -eq 0 ] && order="new old"
    for build in $order; do
      bin=$OLD; [ $build = new ] && bin=$NEW
      c=$(run_once "$bin" $mode $format "${N[$key]}")
      [ -n "$c" ] || continue
      cost[$build]=$c
      echo "cost round$round $build $mode $format $c"
    done
    if [ -n "${cost[old]:-}" ] && [ -n "${cost[new]:-}" ]; then
      set -- ${cost[old]} ${cost[new]}
      r=$(awk -v o="$1" -v n="$3" 'BEGIN { printf "%.3f", n / o }')
      w=$(awk -v o="$2" -v n="$4" 'BEGIN { printf "%.3f", n / o }')
      echo "ratio round$round $mode $format $r $w"
      ratios[$key]+="$r "; walls[$key]+="$w "
    fi
    for build in old new; do  # the least disturbed run of each: noise only adds time
      [ -n "${cost[$build]:-}" ] || continue
      set -- ${cost[$build]}
      [ -z "${best_p[$build.$key]:-}" ] || [ "$1" -lt "${best_p[$build.$key]}" ] && best_p[$build.$key]=$1
      [ -z "${best_w[$build.$key]:-}" ] || [ "$2" -lt "${best_w[$build.$key]}" ] && best_w[$build.$key]=$2
    done
  done
done
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "none"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for key in ${CONFIGS:-bpf.count bpf.json ptrace.count ptrace.json}; do
  echo "ratio median ${key/./ } program $(median "${ratios[$key]:-}") wall $(median "${walls[$key]:-}") (program per round: ${ratios[$key]:-none})"
  if [ -n "${best_p[old.$key]:-}" ] && [ -n "${best_p[new.$key]:-}" ]; then
    echo "ratio best ${key/./ } program ${best_p[new.$key]}/${best_p[old.$key]} = $(awk -v n="${best_p[new.$key]}" -v o="${best_p[old.$key]}" 'BEGIN { printf "%.3f", n / o }')" \
         "wall ${best_w[new.$key]}/${best_w[old.$key]} = $(awk -v n="${best_w[new.$key]}" -v o="${best_w[old.$key]}" 'BEGIN { printf "%.3f", n / o }')"
  fi
done
