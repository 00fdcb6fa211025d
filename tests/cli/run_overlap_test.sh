#!/usr/bin/env bash
# Watches that share bytes: `pair` (8 bytes) and `pair.first` (pair:4) start at the same
# address; `pair` is also watched for writes and for reads+writes at once. Each is its own
# event on the same breakpoint address. A hit is reported for every watch the instruction
# touched, and only those:
#   ptrace mode: one instruction hitting two slots raises one SIGTRAP (a standard signal does
#   not queue twice); hwbp decodes the instruction and reports the other watches it touched.
#   bpf mode: the program tells events apart by their cookie; an event copy in a thread created
#   later may lack it, and its hits are then settled by decoding the instruction too.
# With 8 threads created after arming, both paths run. A watch split into two chunks sees a
# store over both as one hit.
set -u
HWBP=$1; DIR=$2; PROGS=$3
SRC=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$DIR"; cd "$DIR" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$PROGS/overlap" ] || fail "test program missing: $PROGS/overlap"
line() { grep -n "/\* $1 \*/" "$SRC/programs/overlap.c" | cut -d: -f1; }
second=$(line SECOND); first=$(line FIRST); read_line=$(line READ)

# expect FILE COUNT WATCH LINE: the --count table has exactly that line.
expect() {
  grep -qE "^ +$2  $3 +writes +.*overlap.c:$4\$" "$1" || fail "$3 at line $4 is not $2 hits: $(cat "$1")"
}

for threads in 0 8; do
  n=$((threads + 1))
  "$HWBP" run -o c$threads.txt --count --watch pair:8:w --watch pair:4:w -- "$PROGS/overlap" $threads > /dev/null 2> err.txt
  [ $? -eq 0 ] || fail "exit status ($(cat err.txt))"
  cat c$threads.txt
  expect c$threads.txt $((3 * n)) pair:8:w "$second"   # only the 8-byte watch covers .second
  expect c$threads.txt "$n" pair:8:w "$first"          # .first is in both
  expect c$threads.txt "$n" pair:4:w "$first"
  [ "$(grep -c ' pair:' c$threads.txt)" -eq 3 ] || fail "extra lines: $(cat c$threads.txt)"

  # Different access types on the same bytes: the read is the rw watch's alone (the page
  # engine watches stores only: not in its variant).
  if [ "${HWBP_TEST_ENGINE:-hw}" != page ]; then
  "$HWBP" run -o t$threads.txt --count --watch pair:8:w --watch pair:8:rw -- "$PROGS/overlap" $threads > /dev/null 2>&1
  cat t$threads.txt
  for w in w rw; do
    expect t$threads.txt $((3 * n)) pair:8:$w "$second"
    expect t$threads.txt "$n" pair:8:$w "$first"
  done
  expect t$threads.txt "$n" pair:8:rw "$read_line"
  [ "$(grep -c ' pair:' t$threads.txt)" -eq 5 ] || fail "extra lines: $(cat t$threads.txt)"
  fi

  # pair:3 is two chunks (2 + 1 bytes): the 4-byte store to .first covers both and is one
  # hit, not two. Without threads that store changes the bytes, so `pair:3:r` (x86: read-write
  # hits that left the bytes unchanged) must not take it, or its second chunk, for a read; later
  # threads store 7 over 7, which an `r` watch cannot tell from a read (docs/semantics.md).
  if [ "$threads" -eq 0 ] && [ "${HWBP_TEST_ENGINE:-hw}" != page ]; then
    "$HWBP" run -o s.txt --count --watch pair:3:w --watch pair:3:r -- "$PROGS/overlap" > /dev/null 2>&1
    cat s.txt
    expect s.txt 1 pair:3:w "$first"
    expect s.txt 1 pair:3:r "$read_line"
    [ "$(grep -c ' pair:' s.txt)" -eq 2 ] || fail "extra lines: $(cat s.txt)"
  else
    "$HWBP" run -o s.txt --count --watch pair:3:w -- "$PROGS/overlap" $threads > /dev/null 2>&1
    cat s.txt
    expect s.txt "$n" pair:3:w "$first"  # one store over both chunks: one hit
    [ "$(grep -c ' pair:' s.txt)" -eq 1 ] || fail "extra lines: $(cat s.txt)"
  fi
done

# Records with values (one thread: values are deterministic): the 4-byte watch sees 0 -> 7,
# the 8-byte one its 8 bytes.
"$HWBP" run -o j.txt --json --stack 0 --watch pair:8:w --watch pair:4:w -- "$PROGS/overlap" > /dev/null 2>&1
hits=$(grep '"event":"hit"' j.txt)
[ "$(wc -l <<<"$hits")" -eq 5 ] || fail "expected 5 hits: $hits"
[ "$(grep -c '"watch":"pair:4:w"' <<<"$hits")" -eq 1 ] || fail "json pair:4:w: $hits"
grep '"watch":"pair:4:w"' <<<"$hits" | grep "\"line\":$first," | grep -q '"old":"0x00000000","new":"0x00000007"' ||
  fail "json pair:4:w values: $hits"
grep '"watch":"pair:8:w"' <<<"$hits" | grep "\"line\":$first," | grep -q '"old":"0x0000000300000000","new":"0x0000000300000007"' ||
  fail "json pair:8:w values at line $first: $hits"
echo PASS
