#!/usr/bin/env bash
# Watches that start at the same address: `pair` (8 bytes) and `pair.first` (pair:4), and the
# same 8 bytes watched for writes and for reads+writes. Each is its own event on the same
# breakpoint address; a hit is reported for the watches whose event hit, and only those.
#   bpf mode: exact (the program tells the events apart by their attach cookie).
#   ptrace mode: one instruction hitting two slots raises one SIGTRAP (a standard signal does
#   not queue twice), so that instruction is reported for one of its watches, not both
#   (README, "Known limits"); everything else is exact there too.
set -u
HWBP=$1; DIR=$2; PROGS=$3
SRC=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$DIR"; cd "$DIR" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$PROGS/overlap" ] || fail "test program missing: $PROGS/overlap"
line() { grep -n "/\* $1 \*/" "$SRC/programs/overlap.c" | cut -d: -f1; }
second=$(line SECOND); first=$(line FIRST); read_line=$(line READ)
mode=${HWBP_MODE:-auto}

"$HWBP" run -o c.txt --count --watch pair:8:w --watch pair:4:w -- "$PROGS/overlap" > /dev/null 2> err.txt
[ $? -eq 0 ] || fail "exit status ($(cat err.txt))"
cat c.txt
# Writes to pair.second are the 8-byte watch's alone.
grep -qE "^ +3  pair:8:w +main +.*overlap.c:$second\$" c.txt || fail "pair:8:w at line $second: $(cat c.txt)"
grep -q "pair:4:w .*overlap.c:$second\$" c.txt && fail "pair:4:w reported a write it does not cover: $(cat c.txt)"
# The write to pair.first hits both.
n_first=$(grep -cE "^ +1  pair:[48]:w +main +.*overlap.c:$first\$" c.txt)
if [ "$mode" = bpf ]; then
  [ "$n_first" -eq 2 ] || fail "line $first is not reported once for each watch: $(cat c.txt)"
  [ "$(grep -c " pair:" c.txt)" -eq 3 ] || fail "extra lines: $(cat c.txt)"
else
  [ "$n_first" -ge 1 ] || fail "line $first is not reported: $(cat c.txt)"
fi

# The same with records (values): the 4-byte watch sees 0 -> 7, the 8-byte one its 8 bytes.
"$HWBP" run -o j.txt --json --stack 0 --watch pair:8:w --watch pair:4:w -- "$PROGS/overlap" > /dev/null 2>&1
hits=$(grep '"event":"hit"' j.txt)
[ "$(grep -c '"watch":"pair:8:w"' <<<"$hits")" -ge 3 ] || fail "json pair:8:w: $hits"
grep '"watch":"pair:4:w"' <<<"$hits" | grep -qv "\"line\":$first," && fail "json pair:4:w off its bytes: $hits"
if [ "$mode" = bpf ]; then
  [ "$(wc -l <<<"$hits")" -eq 5 ] || fail "expected 5 hits: $hits"
  grep '"watch":"pair:4:w"' <<<"$hits" | grep -q '"old":"0x00000000","new":"0x00000007"' || fail "json pair:4:w values: $hits"
  grep '"watch":"pair:8:w"' <<<"$hits" | grep "\"line\":$first," | grep -q '"old":"0x0000000300000000","new":"0x0000000300000007"' ||
    fail "json pair:8:w values at line $first: $hits"
fi

# Different access types on the same bytes: the read is the rw watch's alone.
"$HWBP" run -o t.txt --count --watch pair:8:w --watch pair:8:rw -- "$PROGS/overlap" > /dev/null 2>&1
cat t.txt
grep -qE "^ +1  pair:8:rw +main +.*overlap.c:$read_line\$" t.txt || fail "read by pair:8:rw: $(cat t.txt)"
grep -q "pair:8:w .*overlap.c:$read_line\$" t.txt && fail "pair:8:w reported a read: $(cat t.txt)"
if [ "$mode" = bpf ]; then
  for w in w rw; do
    grep -qE "^ +3  pair:8:$w +main +.*overlap.c:$second\$" t.txt || fail "pair:8:$w at line $second: $(cat t.txt)"
    grep -qE "^ +1  pair:8:$w +main +.*overlap.c:$first\$" t.txt || fail "pair:8:$w at line $first: $(cat t.txt)"
  done
fi
echo PASS
