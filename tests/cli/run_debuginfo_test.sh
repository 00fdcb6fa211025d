#!/usr/bin/env bash
# Separate debug info, each route on its own: the test program is stripped (no .symtab, no DWARF)
# and its debug info put where only one route finds it:
#   build-id    DIR/.build-id/xx/yyyy.debug under --debug-file-directory DIR
#   debuglink   .gnu_debuglink naming a file beside the program
#   minidebug   MiniDebugInfo: an xz-packed symbol table in .gnu_debugdata (as Fedora makes it)
#   debuginfod  a local `debuginfod -F` serving the unstripped program on 127.0.0.1
#               (DEBUGINFOD_URLS); skipped, saying why, where it cannot start
# Each route must give `hwbp plan` the names and types (cfg.retries: int at nm's address) and
# `hwbp run` the watch with its type and, where hits are delivered (debug registers, or the page
# engine on every machine), the writer's function and file:line (MiniDebugInfo: names only, and
# an expression over types says that types need debug info). Nothing is written to
# /usr/lib/debug: --debug-file-directory points at the test's own root. Last, libc frames with
# Debian's libc6-dbg: a store made inside libc (snprintf) is named with libc's file:line.
set -u
HWBP=$1; DIR=$2; PROGS=$3
FULL=$PROGS/typed
SRC=$(cd "$(dirname "$0")" && pwd)/programs/typed.c
mkdir -p "$DIR"; cd "$DIR" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$FULL" ] || fail "test program missing: $FULL"
for t in objcopy nm readelf xz; do
  command -v $t >/dev/null || { echo "SKIP: $t not installed (binutils, xz-utils)"; exit 77; }
done
unset DEBUGINFOD_URLS  # only the debuginfod case below asks a server, and only ours
hits=0
if [ "${HWBP_TEST_HITS:-1}" = 1 ] || [ "${HWBP_TEST_ENGINE:-}" = page ]; then hits=1; fi

rm -rf root empty buildid link mini dind srv cache
mkdir -p root empty buildid link mini dind srv
build_id=$(readelf -n "$FULL" | sed -n 's/^ *Build ID: *\([0-9a-f]*\)$/\1/p')
[ -n "$build_id" ] || fail "the test program has no build-id note: $(readelf -n "$FULL")"
cfg=$(printf '%#x' "0x$(nm "$FULL" | awk '$3=="cfg" {print $1}')")
retries_line=$(grep -n 'cfg.retries = v;' "$SRC" | cut -d: -f1)
[ -n "$retries_line" ] || fail "typed.c has no 'cfg.retries = v;' line"

strip_all() { objcopy --strip-all "$@"; }  # .symtab and every .debug_* section go

# stripped PROG: no symbol table, no DWARF, no name at all but the dynamic symbols.
check_stripped() {
  ! readelf -S "$1" | grep -qE '\.symtab|\.debug_info' || fail "$1 is not stripped"
}

# resolves ROUTE PROG [hwbp options...]: plan and run find cfg.retries with its type.
resolves() {
  local route=$1 prog=$2; shift 2
  "$HWBP" plan "$@" --program "$prog" 'cfg.retries' > plan.$route 2>&1 ||
    fail "$route: plan cannot resolve cfg.retries: $(cat plan.$route)"
  grep -q "^note: 'cfg.retries' is cfg.retries: int, 4 bytes at $cfg" plan.$route ||
    fail "$route: plan did not give cfg.retries as int at $cfg: $(cat plan.$route)"
  timeout 60 "$HWBP" run "$@" --json --stack 3 --watch 'cfg.retries' -- "$prog" \
    > run.$route.json 2> run.$route.err || fail "$route: hwbp run failed: $(cat run.$route.err)"
  grep -q "hwbp: watching cfg.retries: 4 bytes at 0x[0-9a-f]* (modify) in process [0-9]*, type int" run.$route.err ||
    fail "$route: no 'watching cfg.retries ... type int' line: $(cat run.$route.err)"
  if [ $hits = 1 ]; then
    grep '"event":"hit"' run.$route.json | head -1 |
      grep -q "\"func\":\"set_retries\",\"file\":\"[^\"]*typed.c\",\"line\":$retries_line,.*\"old_value\":\"3\",\"new_value\":\"4\"" ||
      fail "$route: the first hit is not set_retries at typed.c:$retries_line, 3 -> 4: $(cat run.$route.json)"
    grep '"event":"hit"' run.$route.json | head -1 | grep -q '"stack":\[{[^]]*"func":"set_retries"[^]]*"func":"main","file":"[^"]*typed.c","line":[0-9]' ||
      fail "$route: the stack does not name main with its file:line: $(cat run.$route.json)"
  fi
  echo "ok: $route"
}

# --- the stripped program alone: names need debug info, and the error says so.
cp "$FULL" nodebug; strip_all nodebug; check_stripped nodebug
"$HWBP" plan --debug-file-directory "$DIR/empty" --program nodebug 'cfg.retries' > plan.nodebug 2>&1 &&
  fail "a stripped program without debug info resolved cfg.retries: $(cat plan.nodebug)"
[ "$(wc -l < plan.nodebug)" -eq 1 ] || fail "not one line: $(cat plan.nodebug)"
echo "ok: stripped, no debug info: $(cat plan.nodebug)"

# --- build-id: DIR/.build-id/xx/yyyy.debug, found under --debug-file-directory.
mkdir -p "root/.build-id/${build_id:0:2}"
objcopy --only-keep-debug "$FULL" "root/.build-id/${build_id:0:2}/${build_id:2}.debug"
cp "$FULL" buildid/typed; strip_all buildid/typed; check_stripped buildid/typed
resolves build-id buildid/typed --debug-file-directory "$DIR/root"
"$HWBP" plan --debug-file-directory "$DIR/empty" --program buildid/typed 'cfg.retries' > /dev/null 2>&1 &&
  fail "build-id: resolved without the debug directory (found some other way?)"

# --- .gnu_debuglink: a file named in the program, beside it.
objcopy --only-keep-debug "$FULL" link/typed.debug
cp "$FULL" link/typed; strip_all --add-gnu-debuglink=link/typed.debug link/typed; check_stripped link/typed
readelf -S link/typed | grep -q '\.gnu_debuglink' || fail "objcopy added no .gnu_debuglink"
resolves debuglink link/typed --debug-file-directory "$DIR/empty"

# --- MiniDebugInfo (.gnu_debugdata), made as Fedora's find-debuginfo does (and GDB's manual,
# "MiniDebugInfo"): the function and data symbols that .dynsym lacks, xz-packed in a section.
nm -D "$FULL" --format=posix --defined-only | awk '{ print $1 }' | sort > mini/dynsyms
nm "$FULL" --format=posix --defined-only | awk '$2 ~ /^[TtDd]$/ { print $1 }' | sort > mini/funcsyms
comm -13 mini/dynsyms mini/funcsyms > mini/keep_symbols
grep -qx cfg mini/keep_symbols && grep -qx set_retries mini/keep_symbols ||
  fail "MiniDebugInfo: cfg and set_retries should be kept: $(cat mini/keep_symbols)"
objcopy --only-keep-debug "$FULL" mini/debug
objcopy -S --remove-section .gdb_index --remove-section .comment --keep-symbols=mini/keep_symbols \
  mini/debug mini/mini_debuginfo
xz --keep mini/mini_debuginfo
cp "$FULL" mini/typed; strip_all --remove-section .comment mini/typed
objcopy --add-section .gnu_debugdata=mini/mini_debuginfo.xz mini/typed; check_stripped mini/typed
"$HWBP" plan --debug-file-directory "$DIR/empty" --program mini/typed 'cfg' > plan.mini 2>&1 ||
  fail "MiniDebugInfo: plan cannot resolve cfg: $(cat plan.mini)"
grep -q "^ *[0-9]* *$cfg " plan.mini || grep -q "$cfg" plan.mini ||
  fail "MiniDebugInfo: cfg is not at $cfg: $(cat plan.mini)"
"$HWBP" plan --debug-file-directory "$DIR/empty" --program mini/typed 'cfg.retries' > plan.mini2 2>&1 &&
  fail "MiniDebugInfo has no types, yet cfg.retries resolved: $(cat plan.mini2)"
grep -q "debug info" plan.mini2 || fail "MiniDebugInfo: the error should say types need debug info: $(cat plan.mini2)"
timeout 60 "$HWBP" run --debug-file-directory "$DIR/empty" --json --stack 3 --watch 'cfg:4' -- mini/typed \
  > run.mini.json 2> run.mini.err || fail "MiniDebugInfo: hwbp run failed: $(cat run.mini.err)"
grep -q "hwbp: watching cfg: 4 bytes at 0x[0-9a-f]*" run.mini.err || fail "MiniDebugInfo: cfg not armed: $(cat run.mini.err)"
if [ $hits = 1 ]; then
  grep '"event":"hit"' run.mini.json | head -1 | grep -q '"func":"set_retries","file":null,"line":null' ||
    fail "MiniDebugInfo: the first hit is not named set_retries (without file:line): $(cat run.mini.json)"
fi
echo "ok: MiniDebugInfo"

# --- debuginfod: a local server on 127.0.0.1 indexing the unstripped program (never the network).
if ! command -v debuginfod >/dev/null; then
  echo "note: debuginfod case skipped: the debuginfod server is not installed (Debian package debuginfod)"
else
  cp "$FULL" srv/typed
  cp "$FULL" dind/typed; strip_all dind/typed; check_stripped dind/typed
  port=$((20000 + RANDOM % 20000))
  debuginfod -F -p "$port" -d "$DIR/debuginfod.sqlite" -t 0 -g 0 -c 1 "$DIR/srv" > debuginfod.log 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
  # Ready when it serves the debug info of our build-id (it scans srv/ in the background).
  served=0
  for _ in $(seq 100); do
    kill -0 $server 2>/dev/null || break
    status=$( (exec 3<>/dev/tcp/127.0.0.1/$port &&
               printf 'GET /buildid/%s/debuginfo HTTP/1.0\r\n\r\n' "$build_id" >&3 && head -1 <&3) 2>/dev/null)
    case $status in *" 200"*) served=1; break ;; esac
    sleep 0.1
  done
  if [ $served = 0 ]; then
    echo "note: debuginfod case skipped: the local debuginfod server did not start or serve: $(tail -3 debuginfod.log)"
  else
    export DEBUGINFOD_URLS=http://127.0.0.1:$port DEBUGINFOD_CACHE_PATH=$DIR/cache DEBUGINFOD_TIMEOUT=20
    resolves debuginfod dind/typed --debug-file-directory "$DIR/empty"
    unset DEBUGINFOD_URLS
    ls "$DIR/cache/$build_id/debuginfo" > /dev/null 2>&1 ||
      fail "debuginfod: nothing was fetched into the client cache (found some other way?)"
  fi
fi

# --- libc frames with libc6-dbg: snprintf writes cfg.name inside libc; the hit names libc's
# function and its source file:line, as GDB does.
libc=$(ldd "$FULL" | awk '/libc\.so/ {print $3}')
libc_id=$(readelf -n "$libc" 2>/dev/null | sed -n 's/^ *Build ID: *\([0-9a-f]*\)$/\1/p')
if [ ! -e "/usr/lib/debug/.build-id/${libc_id:0:2}/${libc_id:2}.debug" ]; then
  echo "note: libc frames not checked: no debug info for $libc (install libc6-dbg)"
elif [ $hits = 0 ]; then
  echo "note: libc frames not checked: hits are not delivered here (debug registers silent; the page variant checks them)"
else
  timeout 60 "$HWBP" run --json --stack 3 --watch 'cfg.name' -- "$FULL" > run.libc.json 2> run.libc.err ||
    fail "libc: hwbp run failed: $(cat run.libc.err)"
  grep '"event":"hit"' run.libc.json | grep -v '"func":"main"' | head -1 |
    grep -q '"file":"[^"]*\.[chS]","line":[0-9]' ||
    fail "libc: the store inside libc has no file:line: $(cat run.libc.json)"
  echo "ok: libc frames: $(grep '"event":"hit"' run.libc.json | grep -v '"func":"main"' | head -1 | grep -o '"func":"[^"]*","file":"[^"]*","line":[0-9]*' | head -1)"
fi
echo PASS
