#!/usr/bin/env bash
# hwbp run vs GDB on the same program: a GDB hardware watchpoint (`watch -l`, a value-change watch
# like hwbp's default `modify`) and `hwbp run --watch` must report the same hits with the same
# old -> new values, in the same order. The program (programs/gdb_diff.c) writes a statically
# zero global only after main starts, so GDB (armed at main) and hwbp (armed at the first
# instruction) watch the same writes; its sequence mixes changes and same-value writes.
set -u
HWBP=$1; DIR=$2; PROGS=$3
PROG=$PROGS/gdb_diff
GDB=${GDB:-/usr/bin/gdb}
mkdir -p "$DIR"; cd "$DIR" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
[ -x "$PROG" ] || fail "test program missing: $PROG"
[ -x "$GDB" ] || skip "GDB not installed ($GDB)"
# The page variant (in_mode.sh) compares with GDB's software watchpoint, which single-steps (it
# works where debug exceptions are not delivered); the others with its hardware watchpoint.
HW=1 KIND="Hardware watchpoint"
[ "${HWBP_TEST_ENGINE:-hw}" = page ] && HW=0 KIND="Watchpoint"

# GDB: stop at main, remember the value, then on every hit print "HIT old new" (decimal) and
# carry the new value over as the next hit's old one.
cat > watch.gdb <<'GDBEOF'
set pagination off
set confirm off
set can-use-hw-watchpoints HW
break main
run
set $prev = watched
watch -l watched
commands
silent
printf "HIT %lld %lld\n", $prev, watched
set $prev = watched
continue
end
continue
GDBEOF
sed -i "s/can-use-hw-watchpoints HW/can-use-hw-watchpoints $HW/" watch.gdb
timeout 120 "$GDB" -nx -batch -x watch.gdb "$PROG" > gdb.out 2>&1
grc=$?
grep -q '^Breakpoint 1, main ' gdb.out ||
  skip "GDB cannot run the program here (ptrace?), exit $grc: $(head -c 400 gdb.out)"
grep -q "^$KIND 2: -location watched" gdb.out ||
  skip "GDB could not set a ${KIND,}: $(head -c 400 gdb.out)"
grep -q 'exited normally' gdb.out || fail "GDB run did not finish (exit $grc): $(cat gdb.out)"
awk '$1=="HIT"{print $2, $3}' gdb.out > gdb.pairs

# hwbp: JSON Lines; take "old"/"new" (hex, 8 bytes) of each hit and print them as signed
# decimal (bash arithmetic is 64-bit two's complement, so 0xff..ff is -1 like GDB's %lld).
timeout 120 "$HWBP" run --json --stack 0 --watch watched -- "$PROG" > hwbp.json 2> hwbp.err
hrc=$?
[ $hrc -eq 0 ] || fail "hwbp run exited $hrc, expected the program's 0: $(cat hwbp.err)"
grep -q '"event":"summary"' hwbp.json || fail "hwbp printed no summary: $(cat hwbp.json hwbp.err)"
: > hwbp.pairs
while read -r old new; do
  echo "$((old)) $((new))" >> hwbp.pairs
done < <(grep '"event":"hit"' hwbp.json |
         sed -n 's/.*"old":"\(0x[0-9a-f]*\)","new":"\(0x[0-9a-f]*\)".*/\1 \2/p')
[ "$(wc -l < hwbp.pairs)" -eq "$(grep -c '"event":"hit"' hwbp.json)" ] ||
  fail "a hit line lacks old/new: $(cat hwbp.json)"

# The program's 12 writes give 7 changes (0->5, 5->-7, -7->0, 0->123456789012, ->-1, -1->3, 3->42);
# checking GDB's count guards against a comparison of two empty lists.
[ "$(wc -l < gdb.pairs)" -eq 7 ] || fail "GDB reported $(wc -l < gdb.pairs) hits, expected 7: $(cat gdb.out)"
if ! diff -u gdb.pairs hwbp.pairs > pairs.diff; then
  echo "hwbp and GDB disagree (--- GDB, +++ hwbp; lines are 'old new'):"
  cat pairs.diff
  fail "hit sequences differ"
fi
grep -q "\"hits\":7," hwbp.json || fail "hwbp summary does not count 7 hits: $(tail -n 1 hwbp.json)"
echo "GDB and hwbp agree on $(wc -l < gdb.pairs) hits:"
cat hwbp.pairs
echo PASS
