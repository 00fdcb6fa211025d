#!/usr/bin/env bash
# in_mode.sh MODE SCRIPT HWBP DIR PROGS: runs a CLI test script with HWBP_MODE=MODE (the default
# of --mode). The bpf mode needs privilege (CAP_BPF + CAP_PERFMON): where `hwbp doctor` says it
# is unavailable the test is skipped (exit 77) with doctor's reason.
mode=$1 script=$2
shift 2
if [ "$mode" = bpf ]; then
  line=$("$1" doctor 2>&1 | grep -E '^[a-z]+ +bpf mode')
  case $line in
    ok*) ;;
    *) echo "SKIP: the bpf mode is not available here: ${line:-no doctor line}"; exit 77 ;;
  esac
fi
HWBP_MODE=$mode exec bash "$script" "$@"
