#!/usr/bin/env bash
# Variables in shared libraries: linked at start-up (armed when the dynamic loader reports the
# initial libraries) and dlopen'ed later (--pending).
set -u
HWBP=$1; DIR=$2; PROGS=$3
SRC=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$DIR"; cd "$DIR" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
src=$SRC/programs/watched_lib.c
l=$(grep -n LINE-LIB-SET "$src" | cut -d: -f1)

"$HWBP" run -o l.txt --watch lib_value --stack 2 -- "$PROGS/linked" > /dev/null 2> l.err || fail "linked: $(cat l.err)"
grep -q 'old 0x00000000 (0) -> new 0x00000004 (4)' l.txt && grep -q 'new 0x00000009 (9)' l.txt || fail "linked: $(cat l.txt)"
grep -q "in lib_set at .*watched_lib.c:$l\$" l.txt || fail "linked: line $l"
grep -q '#1 0x[0-9a-f]* main at .*linked.c' l.txt || fail "linked: caller"

# Without --pending a name no loaded module defines is an error, before the program runs.
"$HWBP" run --watch lib_value -- "$PROGS/dlopen_prog" "$PROGS/libwatched_lib.so" > d0.out 2> d0.err
[ $? -eq 2 ] && grep -q "no symbol 'lib_value'.*--pending" d0.err || fail "no --pending: $(cat d0.err)"
"$HWBP" run --pending -o d.txt --watch lib_value --stack 0 -- "$PROGS/dlopen_prog" "$PROGS/libwatched_lib.so" > /dev/null 2> d.err || fail "dlopen: $(cat d.err)"
grep -q 'new 0x0000001f (31)' d.txt && grep -q 'old 0x0000001f (31) -> new 0x00000020 (32)' d.txt || fail "dlopen: $(cat d.txt d.err)"
echo PASS
