# Sourced by the CLI test scripts: bad input must get one line on stderr, a non-zero exit, and
# must not have run the program (it prints $RAN_MARKER, default "MARK", when it runs).
# Needs fail() from the sourcing script.
expect_error() {  # expect_error PATTERN CMD...
  local pattern=$1; shift
  "$@" > out.txt 2> err.txt
  local rc=$?
  [ $rc -ne 0 ] || fail "'$*' succeeded"
  [ "$(wc -l < err.txt)" -eq 1 ] || fail "'$*': not one line: $(cat err.txt)"
  grep -q -- "$pattern" err.txt || fail "'$*': expected /$pattern/, got: $(cat err.txt)"
  ! grep -q -- "${RAN_MARKER:-MARK}" out.txt || fail "'$*': the program ran"
}
