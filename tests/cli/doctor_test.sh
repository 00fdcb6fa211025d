#!/usr/bin/env bash
# End-to-end `hwbp doctor`: one "ok|warn|fail  NAME  detail" line per check, the live watchpoint
# test passes on this machine (exit 0), and --json reports the same checks with the same verdicts.
set -u
HWBP=$1
SCRATCH=$2
mkdir -p "$SCRATCH"
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

NAMES=("kernel" "perf_event_paranoid" "privileges" "breakpoint slots" "sigtrap" "remove_on_exec"
       "inherit_thread" "modify ioctl" "ptrace" "debug registers fire" "engine" "execute breakpoints"
       "bpf mode" "kvm")

out=$("$HWBP" doctor 2>"$SCRATCH/doctor.err")
rc=$?
echo "$out"
# Without perf permission nothing about debug registers can be shown here: skip, don't fail.
if grep -qE '^fail +breakpoint slots ' <<<"$out"; then
  echo "SKIP: this machine refuses perf breakpoint events: $(grep -E '^fail +breakpoint slots' <<<"$out")"
  exit 77
fi
# Where the hypervisor delivers no debug exceptions (in_mode.sh: HWBP_TEST_HITS=0), doctor must
# say exactly that, with its fix; not as an essential failure: hwbp run/attach watch with the
# page engine there (exit 0, "ok":true), and the engine line says so.
silent=0
[ "${HWBP_TEST_HITS:-1}" = 1 ] || silent=1
want_rc=0
if [ "$silent" = 1 ]; then
  grep -qE '^ok +engine +hwbp run/attach --engine auto: a write watch that fits the free slots is served by page protection \(debug exceptions are not delivered here\)' <<<"$out" ||
    fail "the engine line does not name the page engine: $(grep engine <<<"$out")"
else
  grep -qE '^ok +engine +hwbp run/attach --engine auto: a write watch that fits the free slots is served by debug registers' <<<"$out" ||
    fail "the engine line does not name the debug registers: $(grep engine <<<"$out")"
fi
grep -qE '^(ok +execute breakpoints +uprobe: a test uprobe counted 3 of 3 calls|warn +execute breakpoints +.*\(fix: )' <<<"$out" ||
  fail "execute breakpoints line: $(grep 'execute breakpoints' <<<"$out")"
[ "$rc" -eq "$want_rc" ] || fail "doctor exited $rc, expected $want_rc"
[ -z "$(cat "$SCRATCH/doctor.err")" ] || fail "doctor wrote to stderr: $(cat "$SCRATCH/doctor.err")"
[ "$(wc -l <<<"$out")" -eq "${#NAMES[@]}" ] || fail "expected ${#NAMES[@]} lines, got $(wc -l <<<"$out")"
if [ "$silent" = 1 ]; then
  grep -qE '^fail +debug registers fire +a write watchpoint counted 0 of 3 writes: the hypervisor does not deliver debug exceptions to this VM \(fix: ' <<<"$out" ||
    fail "debug registers fire does not explain the silent hypervisor"
else
  grep -qE '^ok +debug registers fire +a write watchpoint counted 3 of 3 writes$' <<<"$out" ||
    fail "debug registers fire is not ok"
fi
# Where BPF loads, the fast mode's live check must fully pass: 4 writes with their values, one
# from a thread created after arming.
bpf_line=$(grep -E '^(ok|warn|fail) +bpf mode ' <<<"$out")
if grep -qE '^warn +bpf mode +unavailable: ' <<<"$bpf_line"; then
  echo "note: bpf mode not checked further, BPF is unavailable here: $bpf_line"
elif [ "$silent" = 1 ]; then
  grep -qE "^warn +bpf mode +hwbp's BPF program reported 0 of 4 writes \(fix: " <<<"$bpf_line" ||
    fail "bpf mode should report 0 of 4 writes on a silent machine: $bpf_line"
else
  grep -qE "^ok +bpf mode +hwbp's BPF program reported 4 of 4 writes with their values, one in a thread created after arming: " <<<"$bpf_line" ||
    fail "bpf mode is not ok: $bpf_line"
fi
# Every failure or warning names its fix.
while IFS= read -r line; do
  case "$line" in
    ok*) ;;
    *) grep -qF '(fix: ' <<<"$line" || fail "no fix in: $line" ;;
  esac
done <<<"$out"

json=$("$HWBP" doctor --json 2>/dev/null)
jrc=$?
echo "$json"
[ "$jrc" -eq "$want_rc" ] || fail "doctor --json exited $jrc, expected $want_rc"
want_ok=true
grep -qF "{\"ok\":$want_ok,\"checks\":[" <<<"$json" || fail "--json does not start with ok:$want_ok"
[ "$(grep -oF '"status":' <<<"$json" | wc -l)" -eq "${#NAMES[@]}" ] || fail "--json has a different number of checks"
for name in "${NAMES[@]}"; do
  line=$(grep -E "^(ok|warn|fail) +$name  " <<<"$out")
  if [ -z "$line" ]; then
    fail "no line for check '$name'"
    continue
  fi
  status=${line%% *}
  grep -qF "{\"status\":\"$status\",\"name\":\"$name\"," <<<"$json" ||
    fail "--json lacks check '$name' with status $status"
done

if [ "$failures" -ne 0 ]; then
  echo "$failures doctor assertion(s) failed"
  exit 1
fi
echo "doctor: all assertions passed"
