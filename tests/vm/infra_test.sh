#!/usr/bin/env bash
# The test VM's own contract (scripts/test-vm/vm.sh, prepare.sh), on real VMs of its own:
#   - a command's output and exit status come back; 77 stays a skip
#   - a test still running at its time limit is killed and fails by name
#   - a guest that stops answering is killed and the test fails by name; the next run boots anew
#   - a guest that dies (kernel panic) fails the test by name, with the console's last lines
#   - faults give one line and a skip: no mirror, a boot that does not finish, no kvm_amd
#   - two builds of an empty cache at once give one complete image
# Arguments: $1 = vm.sh, $2 = a scratch directory.
set -u
VM=$1
SCRATCH=$2
PREPARE=$(dirname "$VM")/prepare.sh
rm -rf "$SCRATCH"
mkdir -p "$SCRATCH"
STATE=$SCRATCH/state
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# vmrun SESSION [vm.sh run options] -- CMD...: output in $out, status in $rc, seconds in $took.
vmrun() {
  local session=$1 started=$SECONDS
  shift
  out=$(HWBP_VM_SESSION=$session bash "$VM" run --state "$STATE" "$@" 2>&1)
  rc=$?
  took=$((SECONDS - started))
}

entries_besides_lock() {
  find "$1" -mindepth 1 -maxdepth 1 ! -name .lock -printf '%f\n'
}

stop_session() {
  HWBP_VM_SESSION=$1 bash "$VM" stop --state "$STATE" >/dev/null 2>&1
}

qemu_pid_of() {
  local pgid
  pgid=$(cat "$STATE/session-$1/vm.pgid" 2>/dev/null) || return 1
  pgrep -g "$pgid" qemu-system
}

S=infra-$$
trap 'stop_session $S; stop_session $S-nokvm; stop_session $S-slow' EXIT

# ---- a working VM: status, output, skips, the time limit ----
start_out=$(HWBP_VM_SESSION=$S bash "$VM" start --state "$STATE" 2>&1)
start_rc=$?
echo "$start_out"
if [ $start_rc -eq 77 ]; then
  echo "SKIP: the test VM cannot run here: $(grep '^SKIP:' <<<"$start_out")"
  exit 77
fi
[ $start_rc -eq 0 ] || fail "vm.sh start exited $start_rc"

vmrun "$S" --name passthrough -- bash -c 'echo to-stdout; echo to-stderr >&2; exit 3'
[ $rc -eq 3 ] || fail "exit status 3 came back as $rc: $out"
grep -q '^to-stdout$' <<<"$out" || fail "stdout lost: $out"
grep -q '^to-stderr$' <<<"$out" || fail "stderr lost: $out"

vmrun "$S" --name skipper -- bash -c 'echo "SKIP: nothing to do"; exit 77'
[ $rc -eq 77 ] || fail "a skip (77) came back as $rc: $out"

# shellcheck disable=SC2016 # expanded in the guest
vmrun "$S" --name in-the-guest -- bash -c 'pwd; echo "HWBP_TEST_VM=$HWBP_TEST_VM"'
grep -qx "$PWD" <<<"$out" || fail "the command did not start in the caller's directory ($PWD): $out"
grep -q '^HWBP_TEST_VM=1$' <<<"$out" || fail "not run in the test VM: $out"

vmrun "$S" --name sleeper --timeout 3 -- sleep 600
[ $rc -eq 1 ] || fail "a test past its time limit exited $rc, expected 1: $out"
grep -q '^FAIL: sleeper: still running after its time limit of 3 s in the test VM; killed$' <<<"$out" ||
  fail "no FAIL line naming the test: $out"
[ $took -lt 60 ] || fail "the time limit of 3 s took $took s to act"

# ---- a guest that stops answering (QEMU frozen with SIGSTOP): killed at limit + grace ----
( sleep 4; kill -STOP "$(qemu_pid_of "$S")" ) &
HWBP_VM_GRACE=3 vmrun "$S" --name frozen --timeout 5 -- sleep 30
wait
[ $rc -eq 1 ] || fail "a frozen guest: exit $rc, expected 1: $out"
grep -q '^FAIL: frozen: the test VM stopped answering (8 s without a result); killed it' <<<"$out" ||
  fail "no FAIL line for the frozen guest: $out"
[ $took -lt 40 ] || fail "the frozen guest was killed after $took s"
qemu_pid_of "$S" >/dev/null && fail "the frozen VM is still there"

# ---- the next run boots a new VM; a guest kernel panic fails its test by name ----
vmrun "$S" --name after-the-kill -- true
[ $rc -eq 0 ] || fail "no new VM after the kill: $out"
vmrun "$S" --name panics -- bash -c 'echo 1 >/proc/sys/kernel/sysrq; echo c >/proc/sysrq-trigger; sleep 30'
[ $rc -eq 1 ] || fail "a guest panic: exit $rc, expected 1: $out"
grep -q '^FAIL: panics: the test VM died while running it' <<<"$out" || fail "no FAIL line for the panic: $out"
grep -q 'Kernel panic' <<<"$out" || fail "the console's last lines are not shown: $out"
stop_session "$S"

# ---- faults: each one line, and a skip ----
# A CPU without SVM: kvm_amd does not load; hardware tests still run, KVM tests skip.
HWBP_VM_CPU=max,svm=off vmrun "$S-nokvm" --name no-svm --kvm -- true
[ $rc -eq 77 ] || fail "--kvm without kvm_amd: exit $rc, expected 77: $out"
grep -q '^SKIP: no /dev/kvm in the test VM: insmod kvm-amd failed' <<<"$out" || fail "no SKIP reason: $out"
vmrun "$S-nokvm" --name still-works -- true
[ $rc -eq 0 ] || fail "a VM without kvm_amd does not run tests: $out"
stop_session "$S-nokvm"

HWBP_VM_BOOT_TIMEOUT=1 vmrun "$S-slow" --name slow-boot -- true
[ $rc -eq 77 ] || fail "a boot past its limit: exit $rc, expected 77: $out"
[ "$(grep -c . <<<"$out")" -eq 1 ] || fail "not one line for the slow boot: $out"
grep -q '^SKIP: hwbp test VM: the VM did not boot within 1 s' <<<"$out" || fail "no SKIP reason for the slow boot: $out"
vmrun "$S-slow" --name after-slow-boot -- true
[ $rc -eq 77 ] || fail "later tests of that session do not skip: $out"

offline=$SCRATCH/offline-cache
err=$(HWBP_VM_CACHE=$offline HWBP_VM_MIRROR=http://127.0.0.1:9/debian timeout 120 bash "$PREPARE" 2>&1 >/dev/null)
prc=$?
[ $prc -eq 1 ] || fail "prepare without a mirror exited $prc, expected 1: $err"
grep -q '^hwbp test VM: could not fetch the .* package index from http://127.0.0.1:9/debian .*; check the network or set HWBP_VM_MIRROR' <<<"$err" ||
  fail "no one-line reason without a mirror: $err"
[ -z "$(entries_besides_lock "$offline")" ] || fail "a failed build left files: $(entries_besides_lock "$offline")"

# ---- two builds of an empty cache at once: one image, both succeed, nothing left over ----
cache=$SCRATCH/cache
HWBP_VM_CACHE=$cache bash "$PREPARE" >"$SCRATCH/a.out" 2>"$SCRATCH/a.err" & a=$!
HWBP_VM_CACHE=$cache bash "$PREPARE" >"$SCRATCH/b.out" 2>"$SCRATCH/b.err" & b=$!
wait $a; arc=$?
wait $b; brc=$?
if grep -q 'could not fetch\|downloading .* failed' "$SCRATCH/a.err" "$SCRATCH/b.err"; then
  echo "note: the concurrent build was not checked, the mirror is unreachable: $(cat "$SCRATCH/a.err")"
else
  [ $arc -eq 0 ] || fail "concurrent prepare A: exit $arc: $(cat "$SCRATCH/a.err")"
  [ $brc -eq 0 ] || fail "concurrent prepare B: exit $brc: $(cat "$SCRATCH/b.err")"
  [ "$(cat "$SCRATCH/a.out")" = "$(cat "$SCRATCH/b.out")" ] || fail "two images: $(cat "$SCRATCH/a.out" "$SCRATCH/b.out")"
  [ "$(grep -c 'building the image' "$SCRATCH/a.err" "$SCRATCH/b.err" | awk -F: '{ s += $2 } END { print s }')" -eq 1 ] ||
    fail "the image was built more than once"
  [ "$(entries_besides_lock "$cache" | wc -l)" -eq 1 ] || fail "left over in the cache: $(entries_besides_lock "$cache")"
  [ -f "$(cat "$SCRATCH/a.out")/manifest" ] || fail "no manifest in the image"
fi
rm -rf "$cache"

if [ $failures -ne 0 ]; then
  echo "$failures test-VM assertion(s) failed"
  exit 1
fi
echo "test VM infrastructure: all assertions passed"
