#!/usr/bin/env bash
# hwbp attach arms a watch while the program writes it without pause. A write that lands between
# arming the slot and reading the watch's bytes must not become the "old" value of its own hit:
# every hit whose old value is known must be exact (the target adds 1 per write), and a hit
# that raced the arming says its old value is unknown (core/value_shadow.hpp: the shadow is
# confirmed with the kernel's hit count). Repeated, since the race is a matter of timing.
set -u
HWBP=$1; DIR=$2; PROGS=$3
mkdir -p "$DIR"; cd "$DIR" || exit 1
rm -f *.txt *.err *.out
fail() { echo "FAIL: $*"; [ -n "${TP:-}" ] && kill "$TP" 2>/dev/null; exit 1; }
wait_for() { for _ in $(seq 100); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# Long enough for 12 attaches in the emulated test VM on a loaded machine; killed at the end.
"$PROGS/counter" 900 > target.out & TP=$!
wait_for '^pid' target.out || fail "target did not start"
unknown=0 exact=0
# Six rounds natively; three in the emulated test VM (HWBP_TEST_VM=1), where each attach takes
# 10-20 s and twelve would outlive the VM's time limit on a loaded machine.
rounds=6; [ "${HWBP_TEST_VM:-0}" = 1 ] && rounds=3
for round in $(seq $rounds); do
  for access in w modify; do
    "$HWBP" attach -p $TP --json --stack 0 --max-hits 5 -o r.txt --watch count:$access 2> r.err; rc=$?
    [ $rc -eq 0 ] || fail "round $round ($access): hwbp exit $rc: $(cat r.err)"
    [ "$(grep -c '"event":"hit"' r.txt)" -eq 5 ] || fail "round $round ($access): expected 5 hits: $(cat r.txt r.err)"
    while IFS=' ' read -r old new; do
      if [ "$old" = null ]; then unknown=$((unknown + 1)); continue; fi
      [ $((16#${new#0x})) -eq $((16#${old#0x} + 1)) ] ||
        fail "round $round ($access): hit reported old $old -> new $new; the target adds 1 per write (a write that raced the arming taken for the old value)"
      exact=$((exact + 1))
    done < <(sed -n 's/.*"old":\(null\|"0x[0-9a-f]*"\),"new":"\(0x[0-9a-f]*\)".*/\1 \2/p' r.txt | tr -d '"')
  done
done
kill -0 $TP 2>/dev/null || fail "the target died"
kill $TP; wait $TP 2>/dev/null
[ $exact -gt $((rounds * 5)) ] || fail "only $exact exact hits (unknown: $unknown)"
echo "PASS ($exact exact hits, $unknown with an unknown old value after a racing arm)"
