#!/usr/bin/env bash
# Where debug registers fire (the test VM; real hardware), the two engines agree hit for hit on
# the same programs: the same watches, values, writing functions and lines, in the same order
# for one thread (threads: the same multiset). Skipped where debug exceptions are not delivered.
set -u
HWBP=$1; DIR=$2; PROGS=$3
mkdir -p "$DIR"; cd "$DIR" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
if [ "${HWBP_TEST_HITS:-1}" != 1 ]; then
  echo "SKIP: debug exceptions are not delivered on this machine: nothing to compare the page engine with"
  exit 77
fi
# The fields that must agree (not tids, not instruction addresses: pc_is differs by design).
fields() {
  grep '^{"event":"hit"' "$1" |
    sed -n 's/.*"watch":"\([^"]*\)".*"func":\([^,]*\),"file":.*,"line":\([^,]*\),"old":\([^,]*\),"new":\([^,]*\),.*/\1 \4 \5 \2 \3/p'
}
compare() {  # compare NAME SORT CMD...
  local name=$1 sort=$2; shift 2
  "$HWBP" run --engine hw --json --stack 0 "$@" > "$name.hw" 2> "$name.hw.err" || true
  "$HWBP" run --engine page --json --stack 0 "$@" > "$name.page" 2> "$name.page.err" || true
  local a b
  a=$(fields "$name.hw"); b=$(fields "$name.page")
  if [ "$sort" = sort ]; then a=$(sort <<<"$a"); b=$(sort <<<"$b"); fi
  [ -n "$a" ] || fail "$name: no hardware hits: $(cat "$name.hw.err")"
  [ "$a" = "$b" ] || fail "$name: the engines disagree: $(diff <(echo "$a") <(echo "$b") | head -8)"
}
compare writes keep --watch counter -- "$PROGS/writes"
compare writes_w keep --watch counter:w -- "$PROGS/writes"
compare hidden keep --watch hidden -- "$PROGS/writes"
compare threads sort --watch shared_value -- "$PROGS/threads"
compare overlap sort --watch pair:w --watch pair+4:4 -- "$PROGS/overlap"
echo PASS
