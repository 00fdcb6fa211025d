#!/usr/bin/env bash
# hwbp run: exact values with 2 and 8 threads storing thread-unique values into one variable
# (issue 17: "2, 4 and 8 threads"; run_race_test has 4 threads and the locked instructions).
# The checks are run_race_test's: each exact new value is its own thread's, each value is the
# exact old of one hit at most, and the exact values chain from 0 to the program's final value.
# 2 x 1000 and 8 x 250 stores: 2000 hits each, about a minute each in the test VM (TCG).
set -u
HWBP=$1; DIR=$2; PROGS=$3
here=$(cd "$(dirname "$0")" && pwd)
for spec in 2:1000 8:250; do
  threads=${spec%%:*} ops=${spec##*:}
  out=$(RACE_THREADS=$threads RACE_OPS=$ops RACE_KINDS=store bash "$here/run_race_test.sh" "$HWBP" "$DIR/$threads" "$PROGS")
  rc=$?
  echo "$threads threads: $(grep -v '^PASS$' <<<"$out" | head -1)"
  [ $rc -eq 0 ] || { echo "FAIL: $threads threads: $out"; exit 1; }
done
echo PASS
