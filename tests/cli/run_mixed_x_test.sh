#!/usr/bin/env bash
# Seven execute breakpoints served by two engines at once (issue 15, "six :x breakpoints"), with
# the default engine (auto): where debug exceptions are delivered, f1-f4 take the four debug
# registers and f5, f6 go beyond them to uprobes (root) or int3 under ptrace (an unprivileged
# user: user nobody when run as root); where they are silent, all six are uprobes or int3. Four
# threads call f<n> 100*n times in all: every count exact, on every thread, in `run` and `attach`,
# each watch announced with the engine that serves it, the program's result unchanged. A seventh,
# on `locked`, whose first instruction (`lock add`) the kernel's uprobes refuse: an int3 serves
# it, saying why, with its 100 hits exact.
set -u
HWBP=$1; DIR=$2; PROGS=$3
mkdir -p "$DIR"; cd "$DIR" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$PROGS/six_threads" ] || fail "test program missing: $PROGS/six_threads"
MODE=${HWBP_MODE:-ptrace}
X6=(-w f1:x -w f2:x -w f3:x -w f4:x -w f5:x -w f6:x -w locked:x)
count_of() { awk -v w="$2" '$2==w {s+=$1} END {print s+0}' "$1"; }
# in_mode.sh pins the hardware variants to the debug registers; this test is about auto.
export HWBP_ENGINE=auto

# check NAME BEYOND: the counts of NAME.out and the engines NAME.err announced; BEYOND names the
# engine of the watches beyond the debug registers (uprobe or int3).
check() {
  local name=$1 beyond=$2 i want engine
  grep -q '^sink 9100 locked 100$' "$name.prog" || fail "$name: the program's result changed: $(cat "$name.prog")"
  for i in 1 2 3 4 5 6; do
    want=$((100 * i))
    [ "$(count_of "$name.out" "f$i:x")" = "$want" ] ||
      fail "$name: f$i hit $(count_of "$name.out" "f$i:x") times, expected $want: $(cat "$name.out" "$name.err")"
    engine=$beyond
    [ "${HWBP_TEST_HITS:-0}" = 1 ] && [ "$i" -le 4 ] && engine="debug registers"
    grep -q "^hwbp: watching f$i: .* by $engine (" "$name.err" ||
      fail "$name: f$i not served by $engine: $(grep "watching f$i:" "$name.err")"
  done
  [ "$(count_of "$name.out" locked:x)" = 100 ] ||
    fail "$name: locked hit $(count_of "$name.out" locked:x) times, expected 100: $(cat "$name.out" "$name.err")"
  if [ "$beyond" = uprobe ]; then
    grep -q "^hwbp: watching locked: .* by int3 (.*; the kernel's uprobes cannot probe this instruction)$" "$name.err" ||
      fail "$name: locked (lock add) not served by int3 with the reason: $(grep "watching locked:" "$name.err")"
  else
    grep -q "^hwbp: watching locked: .* by int3 (" "$name.err" ||
      fail "$name: locked not served by int3: $(grep "watching locked:" "$name.err")"
  fi
}

# 1. run, as root (uprobes beyond the debug registers), in this variant's delivery mode.
if [ "$(id -u)" = 0 ]; then
  "$HWBP" run --mode "$MODE" --count "${X6[@]}" -- "$PROGS/six_threads" go > root.out 2> root.err ||
    fail "run as root: $(cat root.err)"
  cp root.out root.prog
  check root uprobe
else
  echo "note: not root: the uprobe case is left out (uprobe events need CAP_PERFMON or root)"
fi

# 2. run as an unprivileged user (int3 beyond the debug registers): ptrace mode only, the bpf
# mode needs privilege.
if [ "$MODE" = ptrace ]; then
  as_user() { "$@"; }
  if [ "$(id -u)" = 0 ]; then
    command -v setpriv > /dev/null || fail "setpriv (util-linux) is needed to run as user nobody"
    as_user() { (cd /tmp && exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"); }
  fi
  if as_user test -x "$HWBP" -a -x "$PROGS/six_threads"; then
    as_user "$HWBP" run --mode ptrace --count "${X6[@]}" -- "$PROGS/six_threads" go > user.out 2> user.err ||
      fail "run as user nobody: $(cat user.err)"
    cp user.out user.prog
    check user int3
  else
    echo "note: user nobody cannot execute $HWBP (a build under a private directory): the int3 case is left out"
  fi
fi

# 3. attach to a running program (its threads start after the watches are armed).
"$PROGS/six_threads" wait > att.prog 2>&1 &
TJ=$! TP=""
for _ in $(seq 200); do TP=$(sed -n 's/^pid //p' att.prog 2>/dev/null); [ -n "$TP" ] && break; sleep 0.05; done
[ -n "$TP" ] || fail "attach: the target did not start"
"$HWBP" attach --mode "$MODE" -p "$TP" --count "${X6[@]}" > att.out 2> att.err &
H=$!
for _ in $(seq 600); do [ "$(grep -c '^hwbp: watching' att.err 2>/dev/null)" -ge 7 ] && break; sleep 0.05; done
[ "$(grep -c '^hwbp: watching' att.err)" -ge 7 ] || { kill "$TP"; fail "attach: not armed: $(cat att.err)"; }
kill -USR1 "$TP"
wait $H || fail "attach: hwbp failed: $(cat att.err)"
wait $TJ || fail "attach: the program failed: $(cat att.prog)"
beyond=uprobe
[ "$(id -u)" = 0 ] || beyond=int3
check att "$beyond"
echo PASS
