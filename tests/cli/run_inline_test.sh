#!/usr/bin/env bash
# hwbp run on a write in inlined code (-O2): the hit names the inlined function, and the stack
# shows the inline chain as virtual frames, each at its call site, like eu-stack -i / GDB.
set -u
HWBP=$1; DIR=$2; PROGS=$3
SRC=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$DIR"; cd "$DIR" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$PROGS/inlined" ] || fail "test program missing: $PROGS/inlined"
line() { grep -n "/\* $1 \*/" "$SRC/programs/inlined.c" | cut -d: -f1; }
store=$(line STORE); inner=$(line CALL_INNER); outer=$(line CALL_OUTER)

"$HWBP" run -o h.txt --watch failures -- "$PROGS/inlined" > prog.out 2> err.txt
[ $? -eq 0 ] || fail "exit status ($(cat err.txt))"
[ "$(grep -c '^hit #' h.txt)" -eq 1 ] || fail "expected 1 hit: $(cat h.txt)"
grep -q "^  in record_failure (inlined) at .*inlined.c:$store\$" h.txt || fail "hit site: $(cat h.txt)"
# Frames 0-2 share the writing instruction's address; frame 3 is the real caller.
pc=$(sed -n 's/^  instruction \(0x[0-9a-f]*\):.*/\1/p' h.txt)
grep -q "^    #0 $pc record_failure (inlined) at .*inlined.c:$store\$" h.txt || fail "#0: $(cat h.txt)"
grep -q "^    #1 $pc add_failures (inlined) at .*inlined.c:$inner\$" h.txt || fail "#1: $(cat h.txt)"
grep -q "^    #2 $pc run_worker at .*inlined.c:$outer\$" h.txt || fail "#2: $(cat h.txt)"
grep -q '^    #3 0x[0-9a-f]* main at .*inlined.c:[0-9]*$' h.txt || fail "#3: $(cat h.txt)"

# --stack N counts printed frames, virtual ones included.
"$HWBP" run -o s2.txt --stack 2 --watch failures -- "$PROGS/inlined" > /dev/null 2>&1
[ "$(grep -c '^    #' s2.txt)" -eq 2 ] || fail "--stack 2: $(cat s2.txt)"

# JSON: func is the inlined function; "inlined": true only on the virtual frames.
"$HWBP" run -o j.txt --json --watch failures -- "$PROGS/inlined" > /dev/null 2>&1
hit=$(grep '"event":"hit"' j.txt)
echo "$hit" | grep -q '"func":"record_failure","file":"[^"]*inlined.c","line":'"$store"',"old"' || fail "json site: $hit"
echo "$hit" | grep -q '"func":"record_failure","file":"[^"]*inlined.c","line":'"$store"',"inlined":true}' || fail "json #0: $hit"
echo "$hit" | grep -q '"func":"add_failures","file":"[^"]*inlined.c","line":'"$inner"',"inlined":true}' || fail "json #1: $hit"
echo "$hit" | grep -q '"func":"run_worker","file":"[^"]*inlined.c","line":'"$outer"'}' || fail "json #2: $hit"

"$HWBP" run -o f.txt --folded --watch failures -- "$PROGS/inlined" > /dev/null 2>&1
grep -q 'main;run_worker;add_failures;record_failure 1$' f.txt || fail "folded: $(cat f.txt)"
echo PASS
