#!/usr/bin/env bash
# hwbp run/attach --flexible: six watches on an x86 thread's four debug registers. The watches
# that fit are pinned, the rest rotate (stderr says which); every watch gets hits, every hit with
# a known old value is exact (each write adds 1), and the rotating watches' coverage is strictly
# between 0 and 1. Without --flexible the same command fails with the slots error.
set -u
HWBP=$1; DIR=$2; PROGS=$3
mkdir -p "$DIR"; cd "$DIR" || exit 1
rm -f *.txt *.err *.out
fail() { echo "FAIL: $*"; [ -n "${TP:-}" ] && kill "$TP" 2>/dev/null; exit 1; }
[ -x "$PROGS/many_globals" ] || fail "test program missing: $PROGS/many_globals"
WATCHES=(--watch g0 --watch g1 --watch g2 --watch g3 --watch g4 --watch g5)

# Without --flexible: one-line error, exit 2, the program is not run.
"$HWBP" run "${WATCHES[@]}" -- "$PROGS/many_globals" > /dev/null 2> strict.err; rc=$?
[ $rc -eq 2 ] || fail "without --flexible: exit $rc, expected 2"
grep -q "needs 1 debug-register slot, but 0 of the 4 slots" strict.err || fail "slots error: $(cat strict.err)"
[ "$(wc -l < strict.err)" -eq 1 ] || fail "expected a one-line error: $(cat strict.err)"

# Checks a JSON run: hits per watch, exactness, coverage. $1 = output, $2 = stderr.
check_json() {
  local out=$1 err=$2 w line old new cov exact=0
  grep -q 'rotate through 1 free slot, [0-9]* ms each: g3, g4, g5$' "$err" || fail "rotation not announced: $(cat "$err")"
  line=$(tail -1 "$out")
  [[ $line == '{"event":"summary"'* ]] || fail "no summary: $line"
  for w in g0 g1 g2 g3 g4 g5; do
    [[ $line =~ \{\"watch\":\"$w\",\"hits\":([0-9]+),\"coverage\":([0-9.e-]+) ]] || fail "$w missing from: $line"
    [ "${BASH_REMATCH[1]}" -gt 0 ] || fail "$w had no hits: $line"
    cov=${BASH_REMATCH[2]}
    case $w in
      g0|g1|g2) [ "$cov" = "1.0" ] || fail "pinned $w coverage $cov" ;;
      *) [[ $cov =~ ^0\.[0-9]*[1-9] ]] || fail "rotating $w coverage $cov not in (0, 1)" ;;
    esac
  done
  # Exactness: new == old + 1 whenever the old value is known ("old":null = unknown after a move).
  while IFS=' ' read -r old new; do
    [ $((16#${new#0x})) -eq $((16#${old#0x} + 1)) ] || fail "inexact hit: old $old new $new"
    exact=$((exact + 1))
  done < <(sed -n 's/.*"old":"\(0x[0-9a-f]*\)","new":"\(0x[0-9a-f]*\)".*/\1 \2/p' "$out")
  [ $exact -gt 100 ] || fail "only $exact hits with known values"
}

"$HWBP" run --flexible --json --stack 0 -o run.txt "${WATCHES[@]}" -- "$PROGS/many_globals" \
  > /dev/null 2> run.err; rc=$?
[ $rc -eq 0 ] || fail "--flexible: exit $rc: $(cat run.err)"
check_json run.txt run.err

# Human and --count summaries give each watch's coverage next to its hits.
"$HWBP" run --flexible --slice 2 --stack 0 -o h.txt "${WATCHES[@]}" -- "$PROGS/many_globals" 2> h.err \
  || fail "human: $(cat h.err)"
grep -q '2 ms each: g3, g4, g5$' h.err || fail "--slice not applied: $(cat h.err)"
grep -Eq '^hwbp: [0-9]+ hits \(g0: [0-9]+ hits, armed 100% of the time;.* g5: [1-9][0-9]* hits?, armed [0-9]+% of the time\)$' h.txt \
  || fail "human summary: $(tail -1 h.txt)"
"$HWBP" run --flexible --count -o c.txt "${WATCHES[@]}" -- "$PROGS/many_globals" 2> c.err || fail "count: $(cat c.err)"
[ "$(grep -Ec '^ +[0-9]+  g[0-5] +total, armed [0-9]+% of the time' c.txt)" -eq 6 ] || fail "count: $(cat c.txt)"
[ "$(grep -c '(rotating)$' c.txt)" -eq 3 ] || fail "count: rotating watches not marked: $(cat c.txt)"

# attach --flexible: the same on a running process, then it runs on and exits normally.
"$PROGS/many_globals" long > target.out & TP=$!
sleep 0.1
"$HWBP" attach -p $TP --flexible --json --stack 0 -o a.txt --duration 0.4 "${WATCHES[@]}" 2> a.err; rc=$?
[ $rc -eq 0 ] || fail "attach --flexible: exit $rc: $(cat a.err)"
wait $TP; trc=$?
[ $trc -eq 0 ] || fail "target exit status $trc after detach"
check_json a.txt a.err
echo PASS
