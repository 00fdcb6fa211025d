#!/usr/bin/env bash
# The command line (issue 12): every word after `--` is the program's; bad values are refused in
# one line with a non-zero exit before anything runs; ptrace refusals name their real reason.
set -u
HWBP=$1; DIR=$2; PROGS=$3
mkdir -p "$DIR"; cd "$DIR" || exit 1
rm -f x.txt *.out *.err
fail() { echo "FAIL: $*"; exit 1; }
RAN_MARKER='^ARG'
. "$(dirname "$0")/expect_error.sh"
expect_args() {  # expect_args "WORD..." CMD...: the program printed exactly these words
  local words=$1; shift
  "$@" > args.out 2> args.err; local rc=$?
  [ $rc -eq 0 ] || fail "'$*': exit $rc: $(cat args.err)"
  local got; got=$(grep '^ARG ' args.out | cut -c5- | tr '\n' ' ')
  [ "$got" = "$words " ] || fail "'$*': the program got '$got', expected '$words': $(cat args.out args.err)"
  ! grep -qi 'usage\|hardware breakpoints' args.out || fail "'$*': hwbp printed its help"
}

# Everything after `--` belongs to the program.
expect_args "--help" "$HWBP" run -w counter -- "$PROGS/echo_args" --help
expect_args "-o x.txt" "$HWBP" run -w counter -- "$PROGS/echo_args" -o x.txt
[ ! -e x.txt ] || fail "-o after -- redirected hwbp's output"
expect_args "-w nosuch" "$HWBP" run -w counter -- "$PROGS/echo_args" -w nosuch
grep -q nosuch args.err && fail "-w after -- added a watch: $(cat args.err)"
expect_args "-- --json" "$HWBP" run -w counter -- "$PROGS/echo_args" -- --json
expect_args "--version -p 1" "$HWBP" run --stack 0 -w counter -- "$PROGS/echo_args" --version -p 1
# optind: a global of ls itself (a copy relocation) that any engine can watch.
"$HWBP" run -w optind -- /bin/ls -la / > ls.out 2> ls.err || fail "'-- /bin/ls -la /': $(cat ls.err)"
grep -q ' etc$' ls.out || fail "'-- /bin/ls -la /': no long listing of /: $(cat ls.out)"
# Commands that run no program keep `--` for their own arguments.
"$HWBP" plan -- 0x1000:8 > plan.out 2>&1 || fail "plan -- SPEC: $(cat plan.out)"

expect_error "unknown command 'frobnicate'; the commands are" "$HWBP" frobnicate -w x
expect_error "no program given" "$HWBP" run -w counter --
# Values CLI11 alone lets through.
expect_error "duration.*'-1' is negative" "$HWBP" run --duration -1 -w counter -- "$PROGS/echo_args"
expect_error "duration.*'nan' is not a number of seconds" "$HWBP" run --duration nan -w counter -- "$PROGS/echo_args"
expect_error "duration.*'inf'" "$HWBP" attach -p 1 --duration inf -w counter
expect_error "max-hits.*'-1' is not a count" "$HWBP" run --max-hits -1 -w counter -- "$PROGS/echo_args"
expect_error "ignore.*'-1' is not a count" "$HWBP" run --ignore -1 -w counter -- "$PROGS/echo_args"
expect_error "stack.*'-1' is not a count" "$HWBP" run --stack -1 -w counter -- "$PROGS/echo_args"
expect_error "if.*empty expression" "$HWBP" run --if '' -w counter -- "$PROGS/echo_args"
expect_error "'18446744073709551615' is out of range" "$HWBP" run --if 'new>=18446744073709551615' -w counter -- "$PROGS/echo_args"
expect_error "watch 'counter': --if literal 3000000000 is out of range for a 4-byte watch.*0xb2d05e00" \
  "$HWBP" run --if 'new==3000000000' -w counter -- "$PROGS/echo_args"
expect_error "'counter:8:x': an execute watch covers one instruction, so it takes no length; drop ':8'" \
  "$HWBP" run -w counter:8:x -- "$PROGS/echo_args"
expect_error "pid.*'0' is not a process id" "$HWBP" attach -p 0 -w counter
expect_error "pid.*'-5' is not a process id" "$HWBP" attach -p -5 -w counter

# ptrace refusals: hwbp itself, a kernel thread, a zombie. As root (CAP_SYS_PTRACE) none of them
# may be blamed on a missing capability.
expect_error "process [0-9]* is this hwbp itself" sh -c 'exec "$0" attach -p $$ -w counter' "$HWBP"
if [ -r /proc/2/stat ] && [ "$(( $(awk '{print $9}' /proc/2/stat 2>/dev/null || echo 0) & 0x200000 ))" -ne 0 ]; then
  expect_error "process 2 is a kernel thread" "$HWBP" attach -p 2 -w counter
else
  echo "note: no kernel thread visible as pid 2: the kernel-thread refusal is not checked"
fi
sh -c 'sleep 0 & echo $! > zombie.pid; exec sleep 300' & holder=$!  # outlives hwbp's start under TCG
for _ in $(seq 100); do
  z=$(cat zombie.pid 2>/dev/null); [ -n "$z" ] && grep -q '^State:.*Z' /proc/$z/status 2>/dev/null && break
  sleep 0.05
done
grep -q '^State:.*Z' /proc/$z/status || fail "could not make a zombie"
expect_error "process $z has exited (a zombie until its parent, process $holder, reaps it)" \
  "$HWBP" attach -p "$z" -w counter
grep -q CAP_SYS_PTRACE err.txt && fail "zombie: blamed CAP_SYS_PTRACE: $(cat err.txt)"
kill $holder 2>/dev/null; wait $holder 2>/dev/null
echo PASS
