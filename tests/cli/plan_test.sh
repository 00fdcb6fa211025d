#!/usr/bin/env bash
# End-to-end `hwbp plan`: chunks and slots, sharing, overflow (exit 1), rotation (--flexible),
# aarch64 pools, perf's mem: form, and one-line errors (exit 2). No process or kernel needed.
# Assertions grep exact substrings: the JSON has one fixed key order, the table fixed columns.
set -u
HWBP=$1
SCRATCH=$2
mkdir -p "$SCRATCH"
failures=0

# run ARGS...: sets out (stdout), err (stderr), rc.
run() {
  out=$("$HWBP" plan "$@" 2>"$SCRATCH/plan.err")
  rc=$?
  err=$(cat "$SCRATCH/plan.err")
}
fail() {
  echo "FAIL: $*"
  echo "  stdout: $out"
  echo "  stderr: $err"
  failures=$((failures + 1))
}
expect_rc() { [ "$rc" -eq "$1" ] || fail "$2: exit $rc, expected $1"; }
expect_out() { grep -qF -- "$1" <<<"$out" || fail "$2: stdout lacks: $1"; }
expect_row() { grep -qE -- "$1" <<<"$out" || fail "$2: no table row matching: $1"; }
expect_count() {
  local n
  n=$(grep -oF -- "$1" <<<"$out" | wc -l)
  [ "$n" -eq "$2" ] || fail "$3: '$1' appears $n times, expected $2"
}
X86=(--arch x86-64 --cpus 4)

# 1. An unaligned 13-byte range: three chunks in slots 0, 1, 2.
run "${X86[@]}" 0x1003:13:w
expect_rc 0 "split"
expect_row '^WATCH +CHUNK +LEN +ACCESS +SLOT +SHARED BY$' "split header"
expect_row '^0x1003:13:w +0x1003 +1 +w +0 +-$' "split chunk 1"
expect_row '^0x1003:13:w +0x1004 +4 +w +1 +-$' "split chunk 2"
expect_row '^0x1003:13:w +0x1008 +8 +w +2 +-$' "split chunk 3"
expect_out "fits: 3 of 4 debug-register slots per thread (x86-64, 4 CPUs)" "split verdict"

run "${X86[@]}" --json 0x1003:13:w
expect_rc 0 "split json"
expect_out '{"fits":true,"slots_needed":3,"slots_available":4,"chunks":[' "split json head"
expect_out '{"watch":"0x1003:13:w","addr":"0x1003","len":1,"access":"w","slot":0,"shared_by":["0x1003:13:w"],"rotates":false,"pool":"mixed"}' "split json chunk 1"
expect_out '{"watch":"0x1003:13:w","addr":"0x1004","len":4,"access":"w","slot":1,' "split json chunk 2"
expect_out '{"watch":"0x1003:13:w","addr":"0x1008","len":8,"access":"w","slot":2,' "split json chunk 3"
expect_out '"arch":"x86-64","cpus":4,"flexible":false,"pools":[{"pool":"mixed","needed":3,"available":4,"free":1}]' "split json pools"

# 2. Two identical specs share one slot.
run "${X86[@]}" 0x1000:8:w 0x1000:8:w
expect_rc 0 "share"
expect_count '0x1000  8    w       0     0x1000:8:w, 0x1000:8:w' 2 "share rows"
expect_out "fits: 1 of 4 debug-register slots" "share verdict"
run "${X86[@]}" --json 0x1000:8:w 0x1000:8:w
expect_out '"slots_needed":1,' "share json needed"
expect_count '"addr":"0x1000","len":8,"access":"w","slot":0,"shared_by":["0x1000:8:w","0x1000:8:w"]' 2 "share json"

# 3. Five slots on a 4-slot machine: exit 1, which watch overflowed, the counts.
run "${X86[@]}" 0x1000:32:w 0x2000:8:w
expect_rc 1 "overflow"
expect_row '^0x2000:8:w +0x2000 +8 +w +- +-$' "overflow row"
expect_out "does not fit: 5 slots needed, 4 available per thread (x86-64, 4 CPUs); overflowed: '0x2000:8:w'" "overflow verdict"
expect_out "pass --flexible" "overflow fix"
run "${X86[@]}" --json 0x1000:32:w 0x2000:8:w
expect_rc 1 "overflow json"
expect_out '{"fits":false,"slots_needed":5,"slots_available":4,' "overflow json head"
expect_out '{"watch":"0x2000:8:w","addr":"0x2000","len":8,"access":"w","slot":null,"shared_by":["0x2000:8:w"],"rotates":false,' "overflow json chunk"
expect_out '"overflowed":["0x2000:8:w"]' "overflow json list"

# 4. --flexible: the watches beyond the slots rotate through the slot left free.
run "${X86[@]}" --flexible 0x1000:24:w 0x2000:8:w 0x3000:8:w
expect_rc 0 "flexible"
expect_row '^0x1000:24:w +0x1010 +8 +w +2 +-$' "flexible pinned row"
expect_row '^0x2000:8:w +0x2000 +8 +w +rotates +-$' "flexible rotating row 1"
expect_row '^0x3000:8:w +0x3000 +8 +w +rotates +-$' "flexible rotating row 2"
expect_out "fits with rotation: 5 slots needed, 4 available per thread (x86-64, 4 CPUs); rotates: '0x2000:8:w', '0x3000:8:w' through 1 free slot" "flexible verdict"
expect_out "time-sliced: each flexible watch is armed a fraction of the time" "flexible explains"
run "${X86[@]}" --flexible --json 0x1000:24:w 0x2000:8:w 0x3000:8:w
expect_rc 0 "flexible json"
expect_out '{"fits":true,"slots_needed":5,"slots_available":4,' "flexible json head"
expect_out '{"watch":"0x2000:8:w","addr":"0x2000","len":8,"access":"w","slot":null,"shared_by":["0x2000:8:w"],"rotates":true,' "flexible json chunk"
expect_count '"rotates":true' 2 "flexible json count"
# One watch larger than every slot together cannot rotate either.
run "${X86[@]}" --flexible 0x1000:64:w
expect_rc 1 "never fits"
expect_out "does not fit, even rotating: '0x1000:64:w' alone needs more slots than exist" "never fits verdict"

# 5. aarch64: byte-select chunks, separate breakpoint and watchpoint pools.
run --arch aarch64 --cpus 4 0x1003:13:w 0x4000:x
expect_rc 0 "aarch64"
expect_row '^0x1003:13:w +0x1003 +5 +w +0 +-$' "aarch64 chunk 1"
expect_row '^0x1003:13:w +0x1008 +8 +w +1 +-$' "aarch64 chunk 2"
expect_row '^0x4000:x +0x4000 +4 +x +0 +-$' "aarch64 exec"
expect_out "fits: 1 of 6 breakpoint slots, 2 of 4 watchpoint slots per thread (aarch64, 4 CPUs)" "aarch64 verdict"
run --arch aarch64 --cpus 4 --json 0x1003:13:w 0x4000:x
expect_out '{"fits":true,"slots_needed":2,"slots_available":4,' "aarch64 json head"
expect_out '"slot":0,"shared_by":["0x4000:x"],"rotates":false,"pool":"inst"}' "aarch64 json inst"
expect_out '"pools":[{"pool":"inst","needed":1,"available":6,"free":5},{"pool":"data","needed":2,"available":4,"free":2}]' "aarch64 json pools"

# 6. perf's mem: form with perf's defaults (rw, 4 bytes), and hwbp's default length note.
run "${X86[@]}" mem:0x1000 mem:0x2000/8:w 0x3000
expect_rc 0 "perf form"
expect_row '^mem:0x1000 +0x1000 +4 +rw +0 +-$' "perf default"
expect_row '^mem:0x2000/8:w +0x2000 +8 +w +1 +-$' "perf len and access"
expect_out "note: 'mem:0x1000' has no length: watching 4 bytes (perf's default)" "perf note"
expect_out "note: '0x3000' has no length: watching 8 bytes; add :LEN to change it" "default length note"

# 6b. Engines (this machine's, as hwbp run/attach would choose them; the exit status stays the
#     slot plan's): --engine page puts stores on page protection and refuses rw in one line.
run --engine page 0x1000:8 0x2000:8:rw
expect_rc 0 "engine page"
expect_out "engine: '0x1000:8' -> page protection (requested)" "engine page line"
expect_out "engine: '0x2000:8:rw' -> refused: the page engine watches stores only (w, modify); rw watches need the debug registers" "engine page refusal"
run --json 0x1000:8
if [ "${HWBP_TEST_HITS:-1}" = 1 ]; then
  expect_out '"engines":[{"watch":"0x1000:8","engine":"debug_registers","reason":"fits the free debug-register slots","refusal":null,"note":null}]' "engine json"
else
  expect_out '"engines":[{"watch":"0x1000:8","engine":"page_protection","reason":"debug exceptions are not delivered here","refusal":null,"note":null,"pages":{"first":"0x1000","count":1}}]' "engine json"
fi

# 6b'. Every slot accounted for: hwbp run's own breakpoint on the dynamic loader, and what it
#      takes here (a uprobe where they open: root with uprobes; else one debug-register slot).
if grep -qE '^ok +execute breakpoints +uprobe:' <<<"$("$HWBP" doctor 2>&1)"; then
  hook="a uprobe here: it takes no debug-register slot"; hook_json='"loader_hook":{"mechanism":"uprobe","slots":0}'
elif [ "${HWBP_TEST_HITS:-1}" = 1 ]; then
  hook="a debug register here: it takes 1 debug-register slot while armed"; hook_json='"loader_hook":{"mechanism":"debug register","slots":1}'
else
  hook="an int3 here: it takes no debug-register slot"; hook_json='"loader_hook":{"mechanism":"int3","slots":0}'
fi
run 0x1000:8
expect_out "hwbp run/attach: its own breakpoint on the dynamic loader (for names in libraries loaded later, --pending, and pointers read once relocated) is $hook" "loader hook line"
run --json 0x1000:8
expect_out "$hook_json" "loader hook json"
# Not for another architecture: the hook is this machine's.
run --arch aarch64 0x1000:8
[ "$(grep -c 'dynamic loader' <<<"$out")" -eq 0 ] || fail "loader hook shown for another architecture"

# 6c. Longer than a debug-register range (4096 bytes): no slot plan, page protection with its
#     pages (as hwbp run would arm it); refused under --engine hw as run refuses it.
if [ "${HWBP_TEST_HITS:-1}" = 1 ]; then why="does not fit the free debug-register slots"; else why="debug exceptions are not delivered here"; fi
run 0x10000:16384:w 0x20010:8192 0x30000:8:w
expect_rc 0 "16 KiB"
expect_out "engine: '0x10000:16384:w' -> page protection ($why): 4 pages 0x10000-0x14000" "16 KiB pages"
expect_out "engine: '0x20010:8192' -> page protection ($why): 3 pages 0x20000-0x23000" "unaligned 8 KiB pages"
expect_out "note: '0x10000:16384:w' is longer than a debug-register range (4096 bytes): only page protection can serve it" "16 KiB note"
expect_count "0x10000:16384:w " 0 "16 KiB: no slot rows"
expect_row '^0x30000:8:w +0x30000 +8 +w +0 +-$' "small watch beside it"
run --json 0x10000:16384:w
expect_out '"engine":"page_protection",' "16 KiB json engine"
expect_out '"pages":{"first":"0x10000","count":4}' "16 KiB json pages"
run --engine hw 0x10000:16384:w
expect_rc 2 "16 KiB on hw"
grep -qF "a range watch covers at most 4096 bytes" <<<"$err" || fail "16 KiB on hw: $err"
run 0x10000:16384:rw
expect_rc 2 "16 KiB rw"

# 7. Errors: exit 2, nothing on stdout, exactly one line on stderr naming the spec.
expect_error() {
  local what=$1 needle=$2
  shift 2
  run "$@"
  expect_rc 2 "$what"
  [ -z "$out" ] || fail "$what: stdout not empty"
  [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "$what: stderr is not one line"
  grep -qF -- "$needle" <<<"$err" || fail "$what: stderr lacks: $needle"
}
expect_error "bad spec" "hwbp: watch spec '0x10:zz': 'zz' is neither a length nor an access" 0x10:zz
expect_error "bad access" "hwbp: watch spec '0x10:8:q': access 'q' is not one of modify, w, rw, r, x" 0x10:8:q
expect_error "null address" "hwbp: watch spec '0x0:8': address 0x0 (length 8): cannot watch the null address" 0x0:8
expect_error "perf access" "hwbp: watch spec 'mem:0x1000:rx': perf access 'rx': x cannot be combined" mem:0x1000:rx
expect_error "symbol" "hwbp: watch spec 'counter:4': names and expressions need a program: pass --program PATH" counter:4
expect_error "unknown arch" "--arch" --arch sparc 0x1000:8

if [ "$failures" -ne 0 ]; then
  echo "$failures plan assertion(s) failed"
  exit 1
fi
echo "plan: all assertions passed"
