#!/usr/bin/env bash
# Execute breakpoints by int3 under ptrace (issue 15), as an unprivileged user (user nobody when
# run as root): the uprobe PMU refuses such users, so `x` watches beyond the debug registers (or
# on a machine whose debug registers are silent) are software breakpoints. Six breakpoints with
# exact counts (--engine page and auto), compared with GDB's `break` counts; the same report as a
# hardware execute hit (function, file:line, stack); threads old (attach) and new; a fork child
# unharmed; exec; a library loaded later; a breakpoint on a store into a page-engine page;
# detach restores every byte; plan and doctor say int3 and why. in_mode.sh runs it in
# the page variant (every machine: int3 needs no debug registers).
set -u
HWBP=$1; DIR=$2; PROGS=$3
mkdir -p "$DIR"; cd "$DIR" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
for p in six_funcs int3_calls forkexec; do
  [ -x "$PROGS/$p" ] || fail "test program missing: $PROGS/$p"
done
if [ "$(id -u)" = 0 ]; then
  command -v setpriv > /dev/null || { echo "SKIP: setpriv (util-linux) is needed to run as user nobody"; exit 77; }
  as_user() { (cd /tmp && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"); }
  as_user test -x "$HWBP" -a -x "$PROGS/int3_calls" ||
    { echo "SKIP: user nobody cannot execute $HWBP (a build under a private directory)"; exit 77; }
else
  as_user() { "$@"; }
fi
SPECS=(f1:x f2:x f3:x f4:x f5:x f6:x)
X6=(-w f1:x -w f2:x -w f3:x -w f4:x -w f5:x -w f6:x)
count_of() { awk -v w="$2" '$2==w {s+=$1} END {print s+0}' "$1"; }

# 0. doctor: no uprobes for this user; x watches beyond the debug registers are int3.
as_user "$HWBP" doctor > doctor.out 2>&1
grep -qE '^ok +execute breakpoints +uprobe events unavailable .*int3 breakpoints under ptrace' doctor.out ||
  fail "doctor does not say int3 serves x watches: $(grep 'execute breakpoints' doctor.out)"
grep -qE '^ok +engine .*x watches beyond the debug registers by int3: uprobe events need CAP_PERFMON or root$' doctor.out ||
  fail "doctor's engine line: $(grep -E '^[a-z]+ +engine' doctor.out)"

# 1. plan: which engine serves each x watch, and why.
# (The exit status stays the slot plan's: 1, six do not fit four debug registers.)
as_user "$HWBP" plan --program "$PROGS/six_funcs" "${SPECS[@]}" > plan.out 2> plan.err
[ $? -le 1 ] || fail "plan: $(cat plan.err)"
grep -qE "^engine: 'f6:x' -> int3 \(.*; uprobe events need CAP_PERFMON or root\)$" plan.out ||
  fail "plan does not name int3 for f6:x: $(cat plan.out)"
as_user "$HWBP" plan --json --engine page --program "$PROGS/six_funcs" f1:x > plan.json 2> plan.err || fail "plan --json: $(cat plan.err)"
grep -q '"watch":"f1:x","engine":"int3","reason":"requested",.*"note":"uprobe events need CAP_PERFMON or root"' plan.json ||
  fail "plan --json: $(cat plan.json)"

# 2. Six breakpoints, exact counts (f1 once ... f6 six times), through --engine page (all int3)
# and auto (int3 for those beyond the free slots, or all where debug registers are silent).
for engine in page auto; do
  as_user env HWBP_ENGINE=$engine "$HWBP" run --mode ptrace --count "${X6[@]}" -- "$PROGS/six_funcs" \
    > six.$engine.out 2> six.$engine.err || fail "six x ($engine): $(cat six.$engine.err)"
  for i in 1 2 3 4 5 6; do
    got=$(count_of six.$engine.out "f$i:x")
    [ "$got" = "$i" ] || fail "six x ($engine): f$i hit $got times, expected $i: $(cat six.$engine.out)"
  done
  grep -q '^sink 91$' six.$engine.out || fail "six x ($engine): the program's result changed: $(cat six.$engine.out)"
  grep -q "watching f6: .* by int3 (.*uprobe events need CAP_PERFMON or root)" six.$engine.err ||
    fail "six x ($engine): f6 not announced as int3: $(cat six.$engine.err)"
done

# 3. GDB's `break` on the same program counts the same.
if command -v gdb > /dev/null; then
  { echo "set pagination off"; echo "set confirm off"
    for i in 1 2 3 4 5 6; do echo "break f$i"; done
    printf 'commands 1-6\nsilent\ncontinue\nend\nrun\ninfo breakpoints\n'; } > gdb.cmds
  as_user gdb -batch -nx -x "$DIR/gdb.cmds" --args "$PROGS/six_funcs" > gdb.out 2>&1
  for i in 1 2 3 4 5 6; do
    gdb_n=$(awk -v f="f$i" '$1 ~ /^[0-9]+$/ && $2 == "breakpoint" {cur = ($0 ~ (" in " f " at ")) } cur && /already hit/ {print $4; exit}' gdb.out)
    [ -n "$gdb_n" ] || { echo "note: GDB comparison not made (GDB did not report hits): $(tail -5 gdb.out)"; break; }
    [ "$gdb_n" = "$(count_of six.page.out "f$i:x")" ] || fail "f$i: GDB counts $gdb_n, hwbp $(count_of six.page.out "f$i:x")"
  done
else
  echo "note: GDB is not installed: its counts were not compared"
fi

# 4. The report of an int3 hit: function, file:line and stack, as a hardware execute hit.
as_user env HWBP_ENGINE=page "$HWBP" run --mode ptrace --stack 3 -w f3:x -- "$PROGS/six_funcs" > rep.out 2> rep.err ||
  fail "report: $(cat rep.err)"
[ "$(grep -c '^hit #' rep.out)" = 3 ] || fail "report: expected 3 hits: $(cat rep.out)"
grep -qE '^  in f3 at .*six_funcs\.c:7$' rep.out || fail "report: no function and line: $(cat rep.out)"
grep -qE '^    #1 0x[0-9a-f]+ main at .*six_funcs\.c:1[0-9]' rep.out || fail "report: no caller in the stack: $(cat rep.out)"
as_user env HWBP_ENGINE=page "$HWBP" run --mode ptrace --json --stack 2 -w f2:x -- "$PROGS/six_funcs" > rep.json 2> rep.err ||
  fail "report --json: $(cat rep.err)"
[ "$(grep -c '"func":"f2",.*"engine":"int3","stack":[{"ip":"0x[0-9a-f]*","func":"f2"' rep.json)" = 2 ] || fail "report --json: $(cat rep.json)"

# 5. Threads created after the breakpoints (run), a fork child that calls a watched function.
as_user env HWBP_ENGINE=page "$HWBP" run --mode ptrace --count -w tick:x -w leaf:x -- "$PROGS/int3_calls" go \
  > thr.out 2> thr.err || fail "threads: $(cat thr.err)"
grep -q '^ticks 5000 leaf 70$' thr.out || fail "threads: the program's result changed: $(cat thr.out)"
grep -q '^child ok$' thr.out || fail "threads: the fork child was harmed: $(cat thr.out)"
[ "$(count_of thr.out tick:x)" = 5000 ] || fail "threads: tick hit $(count_of thr.out tick:x) times, expected 5000"
[ "$(count_of thr.out leaf:x)" = 7 ] || fail "threads: leaf hit $(count_of thr.out leaf:x) times, expected 7"

# 5a. exec: the new program's main is armed again by name (forkexec execs itself once).
as_user env HWBP_ENGINE=page "$HWBP" run --mode ptrace --count -w main:x -- "$PROGS/forkexec" > ex.out 2> ex.err
[ $? -eq 3 ] || fail "exec: exit status (stage2 exits 3): $(cat ex.err)"
[ "$(count_of ex.out main:x)" = 2 ] || fail "exec: main hit $(count_of ex.out main:x) times, expected 2: $(cat ex.out ex.err)"

# 5b. A breakpoint on a store into a page the page engine protects: the step over it faults
# and the page engine completes the store (both reported, the program's result unchanged).
read -r f3 at < <(objdump -d --no-show-raw-insn "$PROGS/six_funcs" 2>/dev/null |
  awk '/^[0-9a-f]+ <f3>:/ {start = $1; on = 1; next} on && /^$/ {exit}
       on && /mov +%eax,.*<sink>/ {sub(":", "", $1); print start, $1; exit}')
store=""
[ -n "${at:-}" ] && store=$(( 0x$at - 0x$f3 ))
if [ -n "$store" ]; then
  as_user env HWBP_ENGINE=page "$HWBP" run --mode ptrace --count -w sink:4:w -w "f3+$store:x" -- "$PROGS/six_funcs" \
    > st.out 2> st.err || fail "store breakpoint: $(cat st.err)"
  grep -q '^sink 91$' st.out || fail "store breakpoint: the program's result changed: $(cat st.out)"
  [ "$(count_of st.out "f3+$store:x")" = 3 ] || fail "store breakpoint: $(cat st.out)"
  [ "$(count_of st.out sink:4:w)" = 21 ] || fail "store breakpoint: sink stores: $(cat st.out)"
else
  echo "note: no breakpoint on a store checked: objdump did not find f3's store to sink"
fi

# 5c. A function of a library loaded later (--pending): the loader's hook is a uprobe where
# uprobes open, else a debug register, or an int3 where debug exceptions are silent.
if [ -x "$PROGS/dlopen_prog" ] && [ -e "$PROGS/libwatched_lib.so" ]; then
  as_user env HWBP_ENGINE=page "$HWBP" run --mode ptrace --pending --count -w lib_set:x -- \
    "$PROGS/dlopen_prog" "$PROGS/libwatched_lib.so" > dl.out 2> dl.err || fail "dlopen: $(cat dl.err)"
  [ "$(count_of dl.out lib_set:x)" = 2 ] || fail "dlopen: lib_set hit $(count_of dl.out lib_set:x) times, expected 2: $(cat dl.out dl.err)"
fi

# 6. attach: threads that existed before (3) and new ones (2); then detach restores the bytes.
start_target() {  # start_target NAME: int3_calls waiting for SIGUSR1; sets TP (its pid), TJ (the job)
  as_user "$PROGS/int3_calls" wait > "$1.prog" 2>&1 &
  TJ=$! TP=""
  for _ in $(seq 200); do TP=$(sed -n 's/^pid //p' "$1.prog" 2>/dev/null); [ -n "$TP" ] && break; sleep 0.05; done
  [ -n "$TP" ] || fail "$1: the target did not start"
}
wait_armed() {  # wait_armed ERRFILE N
  for _ in $(seq 400); do [ "$(grep -c '^hwbp: watching' "$1" 2>/dev/null)" -ge "$2" ] && return; sleep 0.05; done
  fail "not armed: $(cat "$1")"
}
start_target att
as_user env HWBP_ENGINE=page "$HWBP" attach --mode ptrace -p "$TP" --count -w tick:x -w leaf:x > att.out 2> att.err &
H=$!
wait_armed att.err 2
kill -USR1 "$TP"
wait $H || fail "attach: hwbp failed: $(cat att.err)"
wait $TJ
grep -q '^ticks 5000 leaf 70$' att.prog || fail "attach: the program's result changed: $(cat att.prog)"
grep -q '^child ok$' att.prog || fail "attach: the fork child was harmed: $(cat att.prog)"
[ "$(count_of att.out tick:x)" = 5000 ] || fail "attach: tick hit $(count_of att.out tick:x) times, expected 5000: $(cat att.out)"

start_target det
as_user env HWBP_ENGINE=page "$HWBP" attach --mode ptrace -p "$TP" --duration 1 -w tick:x -w leaf:x > det.out 2> det.err ||
  fail "detach: hwbp failed: $(cat det.err)"
# The first byte of tick in the program's memory is its own again (not 0xcc).
base=$(awk -v exe="$(readlink -f "$PROGS/int3_calls")" '$6 == exe && $3 == "00000000" {split($1, a, "-"); print a[1]; exit}' /proc/$TP/maps)
off=$(nm "$PROGS/int3_calls" | awk '$3 == "tick" {print $1}')
if [ -n "$base" ] && [ -n "$off" ] && command -v python3 > /dev/null; then
  byte=$(python3 -c "import sys; f=open('/proc/$TP/mem','rb'); f.seek(int('$base',16)+int('$off',16)); print(f.read(1).hex())" 2>/dev/null)
  [ -n "$byte" ] || echo "note: the program's code could not be read here (/proc/$TP/mem)"
  [ "$byte" != cc ] || fail "detach: an int3 was left at tick"
fi
kill -USR1 "$TP"
wait $TJ; rc=$?
[ $rc -eq 0 ] || fail "detach: the program exited $rc after hwbp detached: $(cat det.prog)"
grep -q '^ticks 5000 leaf 70$' det.prog || fail "detach: the program's result changed: $(cat det.prog)"
grep -q '^child ok$' det.prog || fail "detach: the fork child was harmed: $(cat det.prog)"

echo PASS
