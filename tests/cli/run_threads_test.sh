#!/usr/bin/env bash
# hwbp run: every thread is covered (created before or after the first watched write), a program
# with its own SIGTRAP handler keeps working, static executables, fork + exec.
set -u
HWBP=$1; DIR=$2; PROGS=$3
SRC=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$DIR"; cd "$DIR" || exit 1
fail() { echo "FAIL: $*"; exit 1; }

"$HWBP" run -o t.txt --watch shared_value --stack 0 -- "$PROGS/threads" > t.out 2> t.err || fail "threads: rc $? $(cat t.err)"
for who in main early late; do
  line=$(awk -v w=$who '$2==w{print $3}' t.out)
  grep -q "threads.c:$line\$" t.txt || fail "threads: $who (line $line) missing: $(cat t.txt)"
done
grep -q 'old 0x00000000 (0) -> new 0x00000001 (1)' t.txt || fail "threads: main's write"
grep -q 'old 0x00000001 (1) -> new 0x0000000b (11)' t.txt || fail "threads: early thread's write"
grep -q 'old 0x0000000b (11) -> new 0x00000016 (22)' t.txt || fail "threads: late thread's write"
[ "$(grep -c '^hit #' t.txt)" -eq 3 ] || fail "threads: expected 3 hits"
# The three writers are three different threads.
[ "$(sed -n 's/.*, thread \([0-9]*\) .*/\1/p' t.txt | sort -u | wc -l)" -eq 3 ] || fail "threads: tids"

# Own SIGTRAP handler: sees its 2 raise()s, none of hwbp's traps; exit 0 means it saw exactly 2.
"$HWBP" run -o s.txt --watch guarded --stack 0 -- "$PROGS/own_sigtrap" > s.out 2> s.err || fail "own handler: rc $? $(cat s.out s.err)"
grep -q 'traps=2 perf=0' s.out || fail "own handler: $(cat s.out)"
[ "$(grep -c '^hit #' s.txt)" -eq 2 ] || fail "own handler: expected 2 hits: $(cat s.txt)"
for n in 1 2; do
  l=$(grep -n "LINE-GUARDED-$n" "$SRC/programs/own_sigtrap.c" 2>/dev/null | cut -d: -f1)
  [ -z "$l" ] || grep -q "own_sigtrap.c:$l\$" s.txt || fail "own handler: line $l"
done

# Static executable (no dynamic loader): resolved at the exec stop.
if [ -x "$PROGS/writes_static" ]; then
  "$HWBP" run -o st.txt --watch counter --stack 0 -- "$PROGS/writes_static" > /dev/null 2> st.err
  rc=$?
  [ $rc -eq 7 ] || fail "static: rc $rc $(cat st.err)"
  [ "$(grep -c '^hit #' st.txt)" -eq 3 ] || fail "static: $(cat st.txt)"
  grep -q 'in set_counter at .*writes.c' st.txt || fail "static: no line"
fi

# fork + exec: the parent's write (1) and the exec'd program's (7); the fork child's 100 is not
# watched (hwbp watches one process); exit status 3 from stage2.
"$HWBP" run -o f.txt --watch stage_value --stack 0 -- "$PROGS/forkexec" > /dev/null 2> f.err
rc=$?
[ $rc -eq 3 ] || fail "fork+exec: rc $rc $(cat f.err)"
grep -q 'old 0x00000000 (0) -> new 0x00000001 (1)' f.txt || fail "fork+exec: stage1 write: $(cat f.txt)"
grep -q 'old 0x00000000 (0) -> new 0x00000007 (7)' f.txt || fail "fork+exec: stage2 write after exec"
! grep -q '(100)' f.txt || fail "fork+exec: the fork child was watched"
grep -q 'execve' f.err || fail "fork+exec: no note about the exec"
echo PASS
