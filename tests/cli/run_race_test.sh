#!/usr/bin/env bash
# hwbp run: exact values when threads race on the same bytes (issue 17). Four threads store
# thread-unique values into one global, or lock add / xadd / cmpxchg one counter, 500 times
# each (tests/cli/programs/race.c). Every value hwbp reports as exact must be right:
#  - a store's new value is its own thread's (the value names the writer), never another's;
#  - counters: new == old + 1, and no counter value is credited to two hits;
#  - the hits come in the order of the stores: each exact old is the new of the hit before;
#  - a value that is not exact says so ("exact": false), and the summary counts those hits.
# RACE_THREADS / RACE_OPS override the size, RACE_KINDS the kinds run (all by default).
set -u
HWBP=$1; DIR=$2; PROGS=$3
mkdir -p "$DIR"; cd "$DIR" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$PROGS/race" ] || fail "test program missing: $PROGS/race"
threads=${RACE_THREADS:-4}; ops=${RACE_OPS:-500}

# check KIND FILE PROG_OUT: prints "hits H inexact I wrong W first-wrong-reason".
check() {
  awk -v kind="$1" -v total=$((threads * ops)) '
    function field(name,   re, s) {
      re = "\"" name "\":(\"[^\"]*\"|[a-z0-9]+)"
      if (!match($0, re)) return "absent"
      s = substr($0, RSTART + length(name) + 3, RLENGTH - length(name) - 3)
      gsub(/"/, "", s)
      return s
    }
    function num(h,   i, c, v) {  # hex string (at most 13 digits here) -> number
      v = 0; h = tolower(substr(h, 3))
      for (i = 1; i <= length(h); i++) v = v * 16 + index("0123456789abcdef", substr(h, i, 1)) - 1
      return v
    }
    function wrong(why) { if (!bad) first = why; bad++ }
    FNR == NR { if ($1 == "thread") thread[$4] = $2; if ($1 == "final") final = num($2); next }
    /"event":"hit"/ {
      n++
      tid = field("tid"); o = field("old"); nw = field("new"); ex = field("exact")
      oe = field("old_exact"); ne = field("new_exact")
      # Absent "exact" (hwbp before issue 17): every value was presented as exact.
      if (ex == "absent" || ex == "true") { oe = "true"; ne = "true" }
      if (oe == "absent") oe = "false"
      if (ne == "absent") ne = "false"
      if (ex == "false") inexact++
      if (o == "null") oe = "false"
      if (nw == "null") ne = "false"
      if (kind == "store" || kind == "xchg") {
        if (ne == "true" && int(num(nw) / 4294967296) != thread[tid])
          wrong("hit " n ": thread " thread[tid] " (tid " tid ") credited with " nw)
        if (oe == "true") {
          if (o in old_of) wrong("hit " n ": " o " is the old value of two hits")
          old_of[o] = n
        }
      } else {
        if (oe == "true" && ne == "true" && num(nw) != num(o) + 1 && num(nw) != num(o))
          wrong("hit " n ": " o " -> " nw " is not +1")
        if (ne == "true" && num(nw) != num(o) && (nw in new_of)) wrong("hit " n ": counter value " nw " credited twice")
        # The counter history is 1..total: an exact new value outside it was never the counter.
        if (ne == "true" && (num(nw) < 1 || num(nw) > total)) wrong("hit " n ": counter value " nw " outside 1.." total)
        if (ne == "true") new_of[nw] = n
      }
      # Output order is store order: an exact old continues the previous exact new.
      if (oe == "true" && prev_ne == "true" && o != prev_new)
        wrong("hit " n ": old " o " but the hit before wrote " prev_new)
      prev_new = nw; prev_ne = ne
    }
    END {
      if (prev_ne == "true" && num(prev_new) != final) wrong("last hit wrote " prev_new ", the program ended with " final)
      printf "hits %d inexact %d wrong %d %s\n", n, inexact, bad, first
    }' "$3" "$2"
}

run_kind() {  # KIND SPEC
  local kind=$1 spec=$2
  "$HWBP" run --json -o "$kind.json" --watch "$spec" --stack 0 -- "$PROGS/race" "$kind" "$threads" "$ops" \
    > "$kind.out" 2> "$kind.err" || fail "$kind: rc $? $(cat "$kind.err")"
  result=$(check "$kind" "$kind.json" "$kind.out")
  echo "$kind ($HWBP_MODE): $result"
  set -- $result
  [ "$6" -eq 0 ] || fail "$kind: $result"
  local summary; summary=$(grep '"event":"summary"' "$kind.json")
  grep -q "\"inexact\":$4[,}]" <<<"$summary" || fail "$kind: the summary does not count the $4 inexact hits: $summary"
  echo "$result"
}

want() { [[ " ${RACE_KINDS:-store add xadd xchg cmpxchg} " == *" $1 "* ]]; }
if want store; then
  r=$(run_kind store race_value:8:w) || fail "$r"; echo "$r" | head -1
  set -- $(tail -1 <<<"$r")
  [ "$2" -eq $((threads * ops)) ] || fail "store: $2 hits, expected $((threads * ops))"
fi
if want add; then
  r=$(run_kind add race_counter:8:w) || fail "$r"; echo "$r" | head -1
  set -- $(tail -1 <<<"$r")
  [ "$2" -eq $((threads * ops)) ] || fail "add: $2 hits, expected $((threads * ops))"
fi
# The other instructions at half the size: the test VM's TCG takes about a minute per 2000 hits.
[ -n "${RACE_OPS:-}" ] || ops=$((ops / 2))
if want xadd; then r=$(run_kind xadd race_counter:8:w) || fail "$r"; echo "$r" | head -1; fi
if want xchg; then r=$(run_kind xchg race_value:8:w) || fail "$r"; echo "$r" | head -1; fi
# modify: failed cmpxchg write the old value back (same-value writes), which must not count as
# changes; every real increment must be there.
if want cmpxchg; then
  r=$(run_kind cmpxchg race_counter:8) || fail "$r"; echo "$r" | head -1
  set -- $(tail -1 <<<"$r")
  [ "$2" -ge $((threads * ops)) ] || fail "cmpxchg: $2 modify hits, fewer than the $((threads * ops)) increments"
fi
echo PASS
