#!/usr/bin/env bash
# Hits made just before an execve are explained against the program that made them, in both
# delivery modes. The bpf mode reads its ring after the fact: hits a program made right before it
# called execve (env -i clears and fills `environ` in main and in libc's putenv, then execs) were
# read at the exec stop, against the new program's maps and memory: "the address is in no module",
# one frame, and "cannot read 64 bytes ... (ptrace permission needed ...)" even as root. Now the
# image keeps every library loaded (the loader hook refreshes it, bpf mode) and, once the
# address space is gone, code is read from the modules' files.
set -u
HWBP=$1; DIR=$2; PROGS=$3
mkdir -p "$DIR"; cd "$DIR" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
ENV=$(command -v env)
[ -n "$ENV" ] || { echo "SKIP: no env program"; exit 77; }

timeout 120 "$HWBP" run --stack 5 --watch environ -- "$ENV" -i A=1 B=2 "$ENV" > out.txt 2> err.txt ||
  fail "hwbp run failed: $(cat err.txt)"
cat out.txt err.txt
grep -qx 'A=1' out.txt && grep -qx 'B=2' out.txt || fail "the program's output is missing"
grep -q 'called execve' err.txt || fail "no execve seen: $(cat err.txt)"
# Every hit is placed: a function, a decoded instruction, no stale-memory error.
! grep -q 'in no module' out.txt || fail "a hit was not symbolized: $(cat out.txt)"
! grep -q 'ptrace permission' out.txt err.txt || fail "a permission message while root: $(cat out.txt err.txt)"
# (env is stripped: its own code has no symbol to decode from, in either mode; libc's has.)
! grep -q 'instruction .*cannot read' out.txt || fail "code was read from the new program: $(cat out.txt)"
grep -A3 '^  in __add_to_environ' out.txt | grep -q '^  instruction 0x[0-9a-f]*: mov ' ||
  fail "the store in __add_to_environ was not decoded: $(cat out.txt)"
# The writes before the exec: putenv's in libc, with its caller in the stack.
grep -q '^  in .*putenv\|^  in __add_to_environ\|^  in setenv' out.txt ||
  fail "no hit in libc's putenv/setenv: $(cat out.txt)"
grep -A8 '^  in __add_to_environ\|^  in .*putenv' out.txt | grep -q '#1 0x' ||
  fail "the libc hit has a one-frame stack: $(cat out.txt)"
echo PASS
