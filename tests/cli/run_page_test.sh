#!/usr/bin/env bash
# The page engine through hwbp run/attach (issue 15), on every machine (in_mode.sh runs it in the
# page variant): the torture case (8 threads x 100,000 stores into a page with one watched
# field: hits == truth, neighbours right, exit status passed on), read(2)/fork/munmap/re-mmap,
# a 16 KiB buffer, six execute breakpoints with exact counts (uprobes), programs we did not
# write (their output and exit status unchanged), and the refusals in one line.
set -u
HWBP=$1; DIR=$2; PROGS=$3
mkdir -p "$DIR"; cd "$DIR" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
for p in torture mm_syscalls six_funcs buffer; do
  [ -x "$PROGS/$p" ] || fail "test program missing: $PROGS/$p"
done

# 1. Torture: every store to the watched field is one hit, the neighbours are right, status 3.
"$HWBP" run --engine page --count --watch data+64:8:w -- "$PROGS/torture" > t.out 2> t.err
rc=$?
[ $rc -eq 3 ] || fail "torture: exit status $rc, expected the program's 3 ($(tail -3 t.err))"
grep -q '^neighbours right$' t.out || fail "torture: neighbours wrong: $(cat t.out)"
truth=$(sed -n 's/^truth //p' t.out)
[ "$truth" = 800000 ] || fail "torture: no truth line: $(cat t.out)"
hits=$(awk '$2=="data+64:8:w" && $3=="worker" {s+=$1} END {print s+0}' t.out)
[ "$hits" = "$truth" ] || fail "torture: $hits hits reported, $truth stores made: $(cat t.out)"
grep -q 'by page protection (requested)' t.err || fail "torture: the engine is not named: $(cat t.err)"

# 2. read(2) into a watched buffer and a fork whose child writes its copy (hwbp run), then
#    munmap and re-mmap of watched memory (hwbp attach, watching the region by address).
echo "page engine input" > in.txt
echo go | "$HWBP" run --engine page --json --stack 0 --watch inbox:16:w --watch counter \
    -- "$PROGS/mm_syscalls" "$DIR/in.txt" > s.out 2> s.err
rc=$?
[ $rc = 0 ] || fail "syscalls: exit status $rc: $(cat s.err)"
grep -q '^read 16$' s.out || fail "syscalls: read(2) into the watched buffer failed: $(cat s.out)"
grep -q '^child 0$' s.out || fail "syscalls: the fork child was hurt: $(cat s.out)"
grep -q '^remapped 1$' s.out || fail "syscalls: munmap/mmap failed: $(cat s.out)"
# "page engine input" (16 bytes), little-endian as one hex number.
grep '"event":"hit".*"watch":"inbox:16:w"' s.out | grep '"made_by":"read"' |
  grep -q '"old":"0x00000000000000000000000000000000","new":"0x75706e6920656e69676e652065676170"' ||
  fail "syscalls: the read(2) store is not reported with its bytes: $(cat s.out)"
n=$(grep -c '"event":"hit".*"watch":"counter"' s.out)
[ "$n" -eq 3 ] || fail "syscalls: expected 3 changes of counter in the parent (0->1->2->3), got $n: $(cat s.out)"
grep -q '"old":"0x00000002","new":"0x00000003"' s.out || fail "syscalls: counter 2 -> 3 missing: $(cat s.out)"
! grep -q '"new":"0x00000063"' s.out || fail "syscalls: the fork child's store was reported"

rm -f go.fifo; mkfifo go.fifo
"$PROGS/mm_syscalls" "$DIR/in.txt" < go.fifo > m.out 2>&1 & TP=$!
exec 3> go.fifo
for _ in $(seq 200); do grep -q '^region' m.out 2>/dev/null && break; sleep 0.05; done
region=$(sed -n 's/^region //p' m.out)
[ -n "$region" ] || fail "munmap: the program printed no region: $(cat m.out)"
"$HWBP" attach -p $TP --engine page --json --stack 0 --watch "$(printf '%#x' $((region + 8))):1:w" \
  --watch counter > a.out 2> a.err & HP=$!
for _ in $(seq 200); do [ "$(grep -c 'hwbp: watching' a.err 2>/dev/null)" = 2 ] && break; sleep 0.05; done
[ "$(grep -c 'hwbp: watching' a.err)" = 2 ] || fail "munmap: attach did not arm: $(cat a.err)"
echo go >&3; exec 3>&-
wait $TP; prc=$?
wait $HP; hrc=$?
[ $prc = 0 ] || fail "munmap: the program exited $prc under attach: $(cat m.out)"
[ $hrc = 0 ] || fail "munmap: hwbp attach exited $hrc: $(cat a.err)"
grep -q '^remapped 1$' m.out || fail "munmap: the program's mmap failed: $(cat m.out)"
grep '"event":"hit"' a.out | grep -q '"old":"0x00","new":"0x05"' || fail "munmap: the store before munmap is missing: $(cat a.out)"
grep -q '"event":"watch_ended",.*"reason":"its memory was unmapped by munmap"' a.out ||
  fail "munmap: no watch_ended event: $(cat a.out)"
! grep -q '"new":"0x06"' a.out || fail "munmap: a store after the watch ended was reported"
grep '"event":"hit".*"watch":"counter"' a.out | grep -q '"old":"0x00000002","new":"0x00000003"' ||
  fail "munmap: counter 2 -> 3 missing: $(cat a.out)"

# 3. A 16 KiB buffer, as a user would watch it (auto: the debug registers cannot cover it).
"$HWBP" run --count --watch buf:16384:w -- "$PROGS/buffer" > b.out 2> b.err
rc=$?
[ $rc -eq 0 ] || fail "buffer: exit status $rc: $(cat b.err)"
grep -q '^sum ' b.out || fail "buffer: the program did not finish: $(cat b.out)"
grep -q 'by page protection' b.err || fail "buffer: not the page engine: $(cat b.err)"
# memset's stores (rep stos or vector stores) and 32 loop stores, at least one hit each.
grep -q 'buf:16384:w.*main' b.out || fail "buffer: the loop's stores are missing: $(cat b.out)"
total=$(awk '$2=="buf:16384:w" {s+=$1} END {print s+0}' b.out)
[ "$total" -ge 33 ] || fail "buffer: only $total hits: $(cat b.out)"

# 4. Six execute breakpoints, exact counts (f1 once ... f6 six times): uprobes need root.
if "$HWBP" doctor | grep -qE '^ok +execute breakpoints'; then
  "$HWBP" run --engine page --count -w f1:x -w f2:x -w f3:x -w f4:x -w f5:x -w f6:x \
    -- "$PROGS/six_funcs" > x.out 2> x.err || fail "six x: $(cat x.err)"
  for i in 1 2 3 4 5 6; do
    got=$(awk -v w="f$i:x" '$2==w {s+=$1} END {print s+0}' x.out)
    [ "$got" = "$i" ] || fail "six x: f$i hit $got times, expected $i: $(cat x.out)"
  done
  grep -q '^sink 91$' x.out || fail "six x: the program's result changed: $(cat x.out)"
else
  echo "note: six execute breakpoints not checked: uprobes are unavailable here ($("$HWBP" doctor | grep 'execute breakpoints'))"
fi

# 5. Programs we did not write: the same output and exit status as without hwbp.
same() {  # same NAME WATCH CMD...: runs CMD alone and under hwbp, compares stdout and status
  local name=$1 watch=$2; shift 2
  "$@" > "$name.plain" 2>/dev/null; local want=$?
  "$HWBP" run -o "$name.hits" --count --engine page --watch "$watch" -- "$@" > "$name.hwbp" 2> "$name.err"
  local got=$?
  [ "$got" = "$want" ] || fail "$name: exit status $got under hwbp, $want without: $(tail -3 "$name.err")"
  cmp -s "$name.hwbp" "$name.plain" || fail "$name: output differs under hwbp: $(cmp "$name.hwbp" "$name.plain")"
  grep -q "^ *[1-9][0-9]*  $watch" "$name.hits" || fail "$name: no store to $watch reported: $(cat "$name.hits")"
}
same ls 'program_invocation_name:8:w' ls -l /usr/bin/env /etc/hostname
same ls_missing 'program_invocation_name:8:w' ls /nonexistent-hwbp
if command -v python3 > /dev/null; then
  same python 'program_invocation_short_name:8:w' python3 -c 'import json,sys; print(json.dumps({"a": [1, 2]})); sys.exit(4)'
fi
if command -v xz > /dev/null; then
  head -c 200000 /dev/urandom > rnd.bin
  xz -c rnd.bin > rnd.xz
  same xz 'program_invocation_name:8:w' xz -dc rnd.xz
fi

# 6. Refusals: one line each, nothing runs.
"$HWBP" run --engine page --watch counter:r -- "$PROGS/mm_syscalls" > r.out 2> r.err
[ $? -eq 2 ] && [ "$(wc -l < r.err)" -eq 1 ] && grep -q 'stores only' r.err || fail "r refusal: $(cat r.err)"
! grep -q '^read' r.out || fail "r refusal: the program ran"
"$HWBP" run --engine page --flexible --watch counter -- "$PROGS/mm_syscalls" > f.out 2> f.err
[ $? -eq 2 ] && [ "$(wc -l < f.err)" -eq 1 ] && grep -q 'drop --flexible' f.err || fail "flexible refusal: $(cat f.err)"
echo PASS
