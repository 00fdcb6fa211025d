#!/bin/sh
# run.sh FUZZER SEEDS WORK SECONDS: runs one libFuzzer target for SECONDS on its seed corpus.
# New inputs it finds go to WORK/corpus (never into the source tree), a crashing input to
# WORK/crash-*; the exit status is the fuzzer's (non-zero on a crash, a leak or a timeout).
fuzzer=$1 seeds=$2 work=$3 seconds=$4
mkdir -p "$work/corpus" || exit 1
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work/corpus" "$seeds"
