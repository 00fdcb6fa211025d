#!/usr/bin/env bash
# in_mode.sh MODE SCRIPT HWBP DIR PROGS: runs a CLI test script in one of three variants:
#  - bpf, ptrace: the debug registers (HWBP_ENGINE=hw), with HWBP_MODE=MODE (the default of
#    --mode). The bpf mode needs privilege (CAP_BPF + CAP_PERFMON): where `hwbp doctor` says it
#    is unavailable the test is skipped (exit 77) with doctor's reason.
#    Scripts that need debug-register hits are skipped (exit 77) with doctor's reason where the
#    machine does not deliver debug exceptions; the others run (with the default engine, auto)
#    and are told (HWBP_TEST_HITS=0) so that they can leave out, saying so, the few cases that
#    need hits.
#  - page: the page engine (HWBP_ENGINE=page, HWBP_MODE=ptrace), on every machine, for the
#    watch-behaviour scripts (PAGE_SCRIPTS); they see HWBP_TEST_ENGINE=page and leave out, saying
#    so, what the page engine refuses (r/rw watches, --flexible).
mode=$1 script=$2
shift 2
name=$(basename "$script" .sh)
# Scripts that run where debug exceptions are not delivered (they check HWBP_TEST_HITS).
NO_HITS_NEEDED="run_mixed_x_test plan_test doctor_test run_errors_test command_line_test output_failure_test run_page_test
  run_expressions_test attach_storm_test trap_guard_test run_int3_test run_debuginfo_test run_break_test
  run_at_test"
# Scripts that run with --engine page (watch behaviour: values, threads, formats, conditions, ...).
PAGE_SCRIPTS="run_values_test run_threads_test run_formats_test run_inline_test run_libs_test
  run_overlap_test run_kill_test attach_test attach_race_test run_gdb_diff_test run_page_test
  run_expressions_test run_int3_test run_typed_values_test run_race_test run_debuginfo_test run_break_test
  run_count_modify_test run_race_threads_test run_at_test"

doctor=$("$1" doctor 2>&1)
fires=$(grep -E '^[a-z]+ +debug registers fire ' <<<"$doctor")
export HWBP_TEST_HITS=1
case $fires in fail*) HWBP_TEST_HITS=0 ;; esac

if [ "$mode" = page ]; then
  if ! grep -qw "$name" <<<"$PAGE_SCRIPTS"; then
    echo "SKIP: $name tests the debug registers only (no page-engine variant)"
    exit 77
  fi
  HWBP_ENGINE=page HWBP_MODE=ptrace HWBP_TEST_ENGINE=page exec bash "$script" "$@"
fi
if [ "$name" = run_page_test ] || [ "$name" = run_int3_test ]; then
  echo "SKIP: $name is the software engines' own (run in the page variant)"
  exit 77
fi
if [ "$HWBP_TEST_HITS" = 0 ] && ! grep -qw "$name" <<<"$NO_HITS_NEEDED"; then
  echo "SKIP: debug exceptions are not delivered on this machine — hwbp doctor: ${fires}"
  exit 77
fi
if [ "$mode" = bpf ]; then
  line=$(grep -E '^[a-z]+ +bpf mode' <<<"$doctor")
  case $line in
    ok*) ;;
    *) echo "SKIP: the bpf mode is not available here: ${line:-no doctor line}"; exit 77 ;;
  esac
fi
# Where debug registers fire, the hardware variants test them (auto would move watches that do
# not fit to the page engine).
[ "$HWBP_TEST_HITS" = 1 ] && export HWBP_ENGINE=${HWBP_ENGINE:-hw}
HWBP_MODE=$mode HWBP_TEST_ENGINE=hw exec bash "$script" "$@"
