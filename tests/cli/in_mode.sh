#!/usr/bin/env bash
# in_mode.sh MODE SCRIPT HWBP DIR PROGS: runs a CLI test script with HWBP_MODE=MODE (the default
# of --mode). The bpf mode needs privilege (CAP_BPF + CAP_PERFMON): where `hwbp doctor` says it
# is unavailable the test is skipped (exit 77) with doctor's reason.
# Scripts that need debug-register hits are skipped (exit 77) with doctor's reason where the
# machine does not deliver debug exceptions; the others run and are told (HWBP_TEST_HITS=0) so
# that they can leave out, saying so, the few cases that need hits.
mode=$1 script=$2
shift 2
# Scripts that run where debug exceptions are not delivered (they check HWBP_TEST_HITS).
NO_HITS_NEEDED="plan_test doctor_test run_errors_test run_expressions_test"

doctor=$("$1" doctor 2>&1)
fires=$(grep -E '^[a-z]+ +debug registers fire ' <<<"$doctor")
export HWBP_TEST_HITS=1
case $fires in
  fail*)
    HWBP_TEST_HITS=0
    name=$(basename "$script" .sh)
    if ! grep -qw "$name" <<<"$NO_HITS_NEEDED"; then
      echo "SKIP: debug exceptions are not delivered on this machine — hwbp doctor: ${fires}"
      exit 77
    fi ;;
esac
if [ "$mode" = bpf ]; then
  line=$(grep -E '^[a-z]+ +bpf mode' <<<"$doctor")
  case $line in
    ok*) ;;
    *) echo "SKIP: the bpf mode is not available here: ${line:-no doctor line}"; exit 77 ;;
  esac
fi
HWBP_MODE=$mode exec bash "$script" "$@"
