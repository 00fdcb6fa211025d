#!/usr/bin/env bash
# Output formats and filters: --json, --count, --folded, --if, --ignore, --max-hits.
set -u
HWBP=$1; DIR=$2; PROGS=$3
SRC=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$DIR"; cd "$DIR" || exit 1
fail() { echo "FAIL: $*"; exit 1; }

"$HWBP" run -o j.txt --json --watch counter -- "$PROGS/writes" > /dev/null 2> j.err
[ $? -eq 7 ] || fail "json: rc $(cat j.err)"
[ "$(grep -c '"event":"hit"' j.txt)" -eq 3 ] || fail "json: 3 hit objects expected: $(cat j.txt)"
first=$(grep '"event":"hit"' j.txt | head -1)
for field in '"watch":"counter"' '"tid":[0-9]' '"addr":"0x[0-9a-f]*"' '"access":"modify"' \
             '"ip":"0x[0-9a-f]*"' '"func":"set_counter"' '"file":"[^"]*writes.c"' '"line":[0-9]' \
             '"old":"0x00000001"' '"new":"0x00000002"' '"stack":\[{"ip":"0x[0-9a-f]*","func":"set_counter"'; do
  echo "$first" | grep -q "$field" || fail "json: field $field missing in $first"
done
engine=debug_registers
[ "${HWBP_TEST_ENGINE:-hw}" = page ] && engine=page_protection
tail -1 j.txt | grep -q '^{"event":"summary","hits":3,"watches":\[{"watch":"counter","hits":3,"engine":"'$engine'"}\],"inexact":0,"mode":"'"${HWBP_MODE}"'","lost":0}$' || fail "json summary: $(tail -1 j.txt)"
# Every line is one object.
[ "$(grep -vc '^{.*}$' j.txt)" -eq 0 ] || fail "json: a line is not an object"

"$HWBP" run -o c.txt --count --watch counter:w --watch hidden -- "$PROGS/writes" > /dev/null 2>&1
grep -q '^ *4  counter:w  *set_counter  *.*writes.c:[0-9]*$' c.txt || fail "count: $(cat c.txt)"
grep -q '^ *1  hidden  *bump_hidden  *.*writes.c:[0-9]*$' c.txt || fail "count: hidden: $(cat c.txt)"
# Sorted by count, descending.
[ "$(grep -n 'counter:w' c.txt | cut -d: -f1)" -lt "$(grep -n 'hidden' c.txt | cut -d: -f1)" ] || fail "count: order"
! grep -q '^hit #' c.txt || fail "count: per-hit output present"

"$HWBP" run -o fo.txt --folded --watch counter -- "$PROGS/writes" > /dev/null 2>&1
grep -q '^.*main;set_counter 3$' fo.txt || fail "folded: $(cat fo.txt)"

"$HWBP" run -o if.txt --if 'new<0 || new==42' --stack 0 --watch counter -- "$PROGS/writes" > /dev/null 2>&1
[ "$(grep -c '^hit #' if.txt)" -eq 2 ] || fail "--if: $(cat if.txt)"
grep -q 'new 0xfffffffd' if.txt && grep -q 'new 0x0000002a' if.txt || fail "--if: wrong hits"
"$HWBP" run -o if2.txt --if 'old==2 && new!=old' --stack 0 --watch counter:w -- "$PROGS/writes" > /dev/null 2>&1
[ "$(grep -c '^hit #' if2.txt)" -eq 1 ] && grep -q 'new 0xfffffffd' if2.txt || fail "--if &&: $(cat if2.txt)"

"$HWBP" run -o ig.txt --ignore 1 --max-hits 1 --stack 0 --watch counter -- "$PROGS/writes" > ig.out 2> ig.err
rc=$?
[ $rc -eq 7 ] || fail "--max-hits: the program did not finish normally (rc $rc)"
[ "$(grep -c '^hit #' ig.txt)" -eq 1 ] && grep -q 'old 0x00000002 (2) -> new 0xfffffffd' ig.txt || fail "--ignore/--max-hits: $(cat ig.txt)"
grep -q 'max-hits' ig.err || fail "--max-hits: no note"
[ "$(grep -c MARK ig.out)" -eq 5 ] || fail "--max-hits: the program did not run to its end"

# --max-hits on a busy multithreaded writer: detach while hits are in flight; it must finish.
"$HWBP" run -o b.txt --count --max-hits 200 --watch hot -- "$PROGS/busy" 1 200 > b.out 2> b.err
rc=$?
[ $rc -eq 0 ] && grep -q 'busy done' b.out || fail "busy --max-hits: rc $rc $(cat b.err)"
grep -q '^ *200  hot ' b.txt || fail "busy --max-hits: $(cat b.txt)"
echo PASS
