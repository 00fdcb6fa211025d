#!/usr/bin/env bash
# vm.sh: the host side of the test VM (docs/test-vm.md). ctest calls it; so can you.
#
#   vm.sh start --state DIR [--hwbp CLI]        boot the VM of this session (ctest fixture setup)
#   vm.sh run   --state DIR [options] -- CMD...  run CMD inside it, pass its output and status back
#   vm.sh stop  --state DIR                      power it off (ctest fixture cleanup)
#   vm.sh once  --state DIR [options] -- CMD...  boot a VM of its own, run CMD, power it off
#
# A session is the process that runs vm.sh (ctest, or your shell): every call made by one ctest
# run shares one VM, two ctest runs at once get two VMs. `run` boots the VM itself when the
# session has none (a test run alone, or after a hung VM was killed). The guest sees the host's
# whole file tree read-only (writes land in a tmpfs overlay), so CMD runs the host's binaries by
# their host paths, in the same working directory, as root.
#
# run options:
#   --name NAME           the test's name, for messages (default: CMD)
#   --timeout S           time limit inside the VM (default 600); a test still running then is
#                         killed and fails, a VM that stops answering is killed too
#   --hardware            needs debug-register hits: skipped when this machine's own debug
#                         registers fire (the host pass runs it natively) unless
#                         HWBP_VM_HARDWARE_TESTS=always; needs --hwbp to know
#   --kvm                 needs /dev/kvm: skipped (with the reason) when kvm_amd did not load
#   --gtest-exclude FILE  do not run the gtest patterns FILE lists ("gtest PATTERN" lines);
#                         may be repeated
#   --gtest-only FILE     run only those patterns
#   --evidence WHY        the result cannot be trusted here (WHY says why): it is shown, then the
#                         test is skipped (77), never passed or failed
#   --hwbp CLI            the hwbp binary whose `doctor` says whether this machine's debug
#                         registers fire
# Exit: the command's status; 77 = skipped, with a "SKIP: reason" line; 1 = failed here.
#
# Environment: HWBP_VM_CACHE (image cache), HWBP_VM_CPUS (2), HWBP_VM_MEMORY (MB, 2048),
# HWBP_VM_TCG_OPTS (thread=single), HWBP_VM_CPU (max), HWBP_VM_APPEND (more kernel arguments),
# HWBP_VM_BOOT_TIMEOUT (s, 120), HWBP_VM_IDLE (s the guest waits for a job before powering
# off, 600), HWBP_VM_SESSION (share one VM between several shells), HWBP_VM_HARDWARE_TESTS
# (auto|always|never).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/test-vm/common.sh
. "$here/common.sh"

SKIP=77
# How long QEMU may live at most, whatever happens to the ctest run that started it.
VM_LIFETIME=${HWBP_VM_LIFETIME:-14400}

usage() {
  echo "usage: vm.sh start|run|stop|once --state DIR [run options] [-- CMD ARGS...] (see the header of $0)" >&2
  exit 2
}

bad_argument() {
  echo "vm.sh: $*" >&2
  exit 2
}

check_arguments() {
  [ -n "$state" ] || bad_argument "--state DIR is required (where sessions and logs go, e.g. build/test-vm)"
  [[ $limit =~ ^[1-9][0-9]*$ ]] || bad_argument "--timeout takes whole seconds, not '$limit'"
  local f
  for f in "${gtest_exclude[@]}" "$gtest_only"; do
    [ -z "$f" ] || [ -r "$f" ] || bad_argument "cannot read the gtest list $f"
  done
  [ -z "$hwbp_cli" ] || [ -x "$hwbp_cli" ] || bad_argument "--hwbp $hwbp_cli is not an executable (build hwbp first)"
}

# ---- sessions ------------------------------------------------------------------------------

# "PID-STARTTIME" of the owning process: the start time tells a live owner from a reused pid.
owner_id() {
  local pid=$1 stat
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  echo "$pid-$(awk '{ print $20 }' <<<"$stat")"
}

session_dir() {
  if [ -n "${HWBP_VM_SESSION:-}" ]; then echo "$state/session-$HWBP_VM_SESSION"; return; fi
  echo "$state/session-$(owner_id "$PPID")"
}

owner_alive() {
  local name=$1 pid
  [[ $name =~ ^session-([0-9]+)-[0-9]+$ ]] || return 0  # a named session is never stale
  pid=${BASH_REMATCH[1]}
  [ "session-$(owner_id "$pid" 2>/dev/null)" = "$name" ]
}

# Sessions whose ctest run ended without its cleanup (interrupted): power their VM off.
remove_stale_sessions() {
  local dir
  for dir in "$state"/session-*; do
    [ -d "$dir" ] || continue
    owner_alive "$(basename "$dir")" && continue
    kill_vm "$dir"
    rm -rf "$dir"
  done
}

# ---- the VM process ------------------------------------------------------------------------

# The VM runs in its own process group (setsid); only a group whose leader's command line names
# this session is ours to signal.
vm_group() {
  local dir=$1 pgid
  pgid=$(cat "$dir/vm.pgid" 2>/dev/null) || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pgid/cmdline" | grep -qF "$dir/" || return 1
  echo "$pgid"
}

vm_alive() {
  vm_group "$1" >/dev/null
}

kill_vm() {
  local dir=$1 pgid
  pgid=$(vm_group "$dir") || return 0
  kill -KILL -- "-$pgid" 2>/dev/null || true
  while kill -0 "$pgid" 2>/dev/null; do sleep 0.05; done
}

last_console_line() {
  grep -v '^[[:space:]]*$' "$1/console.log" 2>/dev/null | tr -d '\r' | tail -1 | cut -c1-200
}

# ---- booting -------------------------------------------------------------------------------

# The initramfs: static busybox, the image's modules, our /init. Assembled per boot (a few MB,
# milliseconds) so init changes never need a new image.
make_initramfs() {
  local dir=$1 image=$2 root=$1/initramfs
  rm -rf "$root"
  mkdir -p "$root/bin" "$root/lib/modules"
  cp /bin/busybox "$root/bin/busybox"
  cp "$image"/modules/* "$root/lib/modules/"
  cp "$here/init" "$root/init"
  chmod 755 "$root/init"
  (cd "$root" && find . | cpio -o -H newc --quiet) >"$dir/initrd.cpio"
  rm -rf "$root"
}

kernel_command_line() {
  local scope
  scope=$(cat /proc/sys/kernel/yama/ptrace_scope 2>/dev/null || true)
  echo "console=ttyS0 panic=-1 quiet loglevel=3 hwbp.agent=$here/agent.sh" \
       "hwbp.paranoid=$(cat /proc/sys/kernel/perf_event_paranoid) hwbp.ptrace_scope=$scope" \
       "hwbp.idle=${HWBP_VM_IDLE:-600} ${HWBP_VM_APPEND:-}"
}

# -accel tcg -cpu max: TCG emulates AMD SVM, so the guest's kvm_amd offers a /dev/kvm on every
# machine, with or without its own. thread=single: one host thread runs both vCPUs in turns.
# With QEMU's default multi-threaded TCG the guest kernel died in 2 of 5 runs of the CLI suite
# ("Oops: int3" in finish_task_switch: a CPU executed the int3 of a jump-label patch another
# CPU had already completed, so cross-CPU code patching is not safe there; none in 5 runs with
# one thread), and on a 2-CPU host the single thread is faster anyway (fork+exec 31 ms against
# 46 ms). The guest still has
# two CPUs, for the tests of CPU-wide watches. multidevs=remap: the host's / spans several
# filesystems.
launch_qemu() {
  local dir=$1 image=$2
  local -a args=(
    -L "$image/qemu/share/qemu" -L "$image/qemu/share/seabios"
    -accel "tcg,${HWBP_VM_TCG_OPTS:-thread=single}" -cpu "${HWBP_VM_CPU:-max}" -smp "${HWBP_VM_CPUS:-2}" -m "${HWBP_VM_MEMORY:-2048}"
    -display none -no-reboot -nodefaults -serial "file:$dir/console.log"
    -kernel "$image/kernel/vmlinuz" -initrd "$dir/initrd.cpio" -append "$(kernel_command_line)"
    -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
    -virtfs "local,path=$dir/share,mount_tag=hwbpshare,security_model=none,multidevs=remap"
  )
  # The lock descriptor must not leak into QEMU (it would hold the lock for the VM's lifetime).
  setsid timeout -s KILL "$VM_LIFETIME" "$image/qemu/bin/qemu-system-x86_64" "${args[@]}" \
    </dev/null >"$dir/qemu.log" 2>&1 9>&- &
  echo $! >"$dir/vm.pgid"
  disown  # its end is ours to report, not bash's ("Killed")
}

# Records why the VM cannot serve this session; every later call skips with it.
unavailable() {
  echo "hwbp test VM: $*" >"$session/unavailable"
  echo "SKIP: $(cat "$session/unavailable")"
  exit "$SKIP"
}

wait_until_ready() {
  local dir=$1 limit=${HWBP_VM_BOOT_TIMEOUT:-120} started=$SECONDS line
  while [ ! -f "$dir/share/ready" ]; do
    line=$(grep -a -m1 'HWBP-VM-FAIL:' "$dir/console.log" 2>/dev/null | tr -d '\r' || true)
    if [ -n "$line" ]; then
      kill_vm "$dir"
      unavailable "the VM failed while booting: ${line#*HWBP-VM-FAIL: } (console: $dir/console.log)"
    fi
    vm_alive "$dir" ||
      unavailable "QEMU exited while booting: $(tail -1 "$dir/qemu.log" 2>/dev/null)$(last_console_line "$dir") (logs: $dir/qemu.log, $dir/console.log)"
    if [ $((SECONDS - started)) -ge "$limit" ]; then
      kill_vm "$dir"
      unavailable "the VM did not boot within $limit s (last console line: $(last_console_line "$dir")); raise HWBP_VM_BOOT_TIMEOUT on a slow machine"
    fi
    sleep 0.1
  done
}

boot() {
  local image started
  [[ $here != *" "* ]] || unavailable "the source tree's path contains a space ($here), which the kernel command line cannot carry; move the checkout"
  kill_vm "$session"  # one that never got ready
  image=$("$here/prepare.sh" 2>"$session/prepare.err") ||
    unavailable "$(sed 's/^hwbp test VM: //' "$session/prepare.err" | tail -1)"
  rm -rf "$session/share"
  mkdir -p "$session/share/jobs"
  keep_old_console "$session"
  make_initramfs "$session" "$image"
  started=$(date +%s.%N)
  launch_qemu "$session" "$image"
  wait_until_ready "$session"
  awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", b - a }' >"$session/boot_seconds"
  cp "$image/manifest" "$session/manifest"
}

# A previous VM's console (a panic, say) is evidence: number it instead of overwriting it.
keep_old_console() {
  local dir=$1 n=1
  if [ -s "$dir/console.log" ]; then
    while [ -e "$dir/console.$n.log" ]; do n=$((n + 1)); done
    mv "$dir/console.log" "$dir/console.$n.log"
  fi
  : >"$dir/console.log"
}

# Boots the session's VM unless it runs; one booter at a time per session.
ensure_running() {
  mkdir -p "$session"
  exec 9>"$session/lock"
  flock 9
  [ -f "$session/unavailable" ] && { echo "SKIP: $(cat "$session/unavailable")"; exit "$SKIP"; }
  if ! vm_alive "$session" || [ ! -f "$session/share/ready" ]; then boot; fi
  flock -u 9
  exec 9>&-
}

ready_value() {
  sed -n "s/^$1=//p" "$session/share/ready"
}

manifest_value() {
  sed -n "s/^$1=//p" "$session/manifest"
}

describe_vm() {
  echo "hwbp test VM: up in $(cat "$session/boot_seconds") s; QEMU $(manifest_value qemu_version) TCG" \
       "($(ready_value cpus) vCPUs, $(ready_value cpu)), kernel $(ready_value kernel)," \
       "/dev/kvm: $(ready_value kvm | sed 's/^ok$/yes (nested kvm_amd)/')"
}

# ---- this machine's debug registers ------------------------------------------------------

# "yes" when a real watchpoint fires here (hwbp doctor's live check), else "no"; once per session.
host_fires() {
  if [ ! -f "$session/host_fires" ]; then
    local answer=no
    if [ -n "$hwbp_cli" ] && "$hwbp_cli" doctor 2>/dev/null | grep -qE '^ok +debug registers fire '; then
      answer=yes
    fi
    mkdir -p "$session"  # (vm.sh once: the session starts after this check)
    echo "$answer" >"$session/host_fires"
  fi
  cat "$session/host_fires"
}

# ---- jobs ----------------------------------------------------------------------------------

# What a test sees of the caller's environment: the variables tests and hwbp read.
forwarded_environment() {
  local name
  for name in $(compgen -e); do
    [[ $name =~ ^(PATH|HOME|LANG|LC_[A-Z]+|TERM|TZ|HWBP_[A-Z0-9_]+|GTEST_[A-Z0-9_]+|[A-Z]+SAN_OPTIONS)$ ]] &&
      printf 'export %s=%q\n' "$name" "${!name}"
  done
  echo "export HWBP_TEST_VM=1"
}

# Writes the job into a hidden directory and renames it into jobs/: the agent never sees half.
submit_job() {
  local limit=$1 id
  shift
  id="$(tr -c 'A-Za-z0-9._-' '_' <<<"$name" | cut -c1-60)-$$-$RANDOM"
  local tmp="$session/share/.new-$id"
  mkdir -p "$tmp"
  {
    forwarded_environment
    printf 'cd %q || exit 1\n' "$PWD"
    printf 'exec'
    printf ' %q' "$@"
    printf '\n'
  } >"$tmp/cmd.sh"
  echo "$limit" >"$tmp/timeout"
  mv "$tmp" "$session/share/jobs/$id"
  echo "$session/share/jobs/$id"
}

# Waits for the job's status. The agent enforces the time limit itself; if no status arrives
# GRACE seconds after that, the guest has hung: kill it, fail the test by name.
wait_for_job() {
  local job=$1 limit=$2 grace=${HWBP_VM_GRACE:-30} started=$SECONDS
  while [ ! -f "$job/rc" ]; do
    if ! vm_alive "$session"; then
      cat "$job/out" 2>/dev/null
      echo "---- the test VM's console, last 60 lines ----"
      tail -60 "$session/console.log" | tr -d '\r'
      vm_failed=1
      echo "FAIL: $name: the test VM died while running it (last console line: $(last_console_line "$session"); console: $session/console.log)"
      return 1
    fi
    if [ $((SECONDS - started)) -ge $((limit + grace)) ]; then
      cat "$job/out" 2>/dev/null
      kill_vm "$session"
      vm_failed=1
      echo "FAIL: $name: the test VM stopped answering ($((limit + grace)) s without a result); killed it (console: $session/console.log)"
      return 1
    fi
    sleep 0.1
  done
  cat "$job/out"
  local rc
  rc=$(cat "$job/rc")
  rm -rf "$job"
  case $rc in
    124 | 137)
      echo "FAIL: $name: still running after its time limit of $limit s in the test VM; killed"
      return 1 ;;
  esac
  return "$rc"
}

# The patterns of the FILEs' "gtest PATTERN [# why]" lines, joined with ':' as --gtest_filter
# wants.
gtest_patterns() {
  sed -n 's/#.*//; s/^gtest[[:space:]]\{1,\}\([^[:space:]]\{1,\}\).*/\1/p' "$@" | paste -sd: -
}

# ---- commands ------------------------------------------------------------------------------

cmd_start() {
  mkdir -p "$state"
  remove_stale_sessions
  mkdir -p "$session"
  rm -f "$session/unavailable"
  ensure_running
  describe_vm
  echo "hwbp test VM: this machine's debug registers fire: $(host_fires)" \
       "(tests that need them run $([ "$(host_fires)" = yes ] && echo natively || echo in this VM))"
  if [ -n "$hwbp_cli" ]; then
    echo "hwbp doctor inside the VM:"
    name=doctor
    wait_for_job "$(submit_job 120 "$hwbp_cli" doctor)" 120 || true
  fi
}

cmd_stop() {
  [ -d "$session" ] || { echo "hwbp test VM: no VM in this session"; return 0; }
  if vm_alive "$session"; then
    : >"$session/share/poweroff"
    local waited=0
    while vm_alive "$session" && [ $waited -lt 100 ]; do sleep 0.1; waited=$((waited + 1)); done
    kill_vm "$session"
    echo "hwbp test VM: stopped"
  fi
  # Keep the last logs for a post-mortem; the rest (initramfs, share) goes.
  rm -rf "$state/last-session"
  mkdir -p "$state/last-session"
  cp "$session"/*.log "$state/last-session/" 2>/dev/null || true
  rm -rf "$session"
}

skip_if_not_needed() {
  if [ "$needs_hardware" -eq 1 ]; then
    case ${HWBP_VM_HARDWARE_TESTS:-auto} in
      never) echo "SKIP: HWBP_VM_HARDWARE_TESTS=never"; exit "$SKIP" ;;
      always) ;;
      *) [ "$(host_fires)" = yes ] &&
           { echo "SKIP: debug registers fire on this machine, so the host pass runs $name natively (HWBP_VM_HARDWARE_TESTS=always runs it in the test VM as well)"; exit "$SKIP"; } ;;
    esac
  fi
  return 0
}

# --gtest-only: listing the binary's tests works on any machine, so a binary none of whose tests
# is listed is skipped here, without a trip to the VM.
skip_unless_listed_tests_exist() {
  local patterns count
  patterns=$(gtest_patterns "$gtest_only")
  count=0
  [ -z "$patterns" ] || count=$("$1" --gtest_list_tests "--gtest_filter=$patterns" 2>/dev/null | grep -c '^  ' || true)
  if [ "$count" -eq 0 ]; then
    echo "SKIP: none of $(basename "$1")'s tests is listed in $gtest_only"
    exit "$SKIP"
  fi
}

# The command with the --gtest-exclude / --gtest-only filter appended.
filtered_command() {
  local patterns
  if [ ${#gtest_exclude[@]} -gt 0 ]; then
    patterns=$(gtest_patterns "${gtest_exclude[@]}")
    if [ -n "$patterns" ]; then
      echo "hwbp test VM: not run here (listed in ${gtest_exclude[*]}): $patterns" >&2
      set -- "$@" "--gtest_filter=-$patterns"
    fi
  fi
  if [ -n "$gtest_only" ]; then
    set -- "$@" "--gtest_filter=$(gtest_patterns "$gtest_only")"
  fi
  printf '%s\0' "$@"
}

cmd_run() {
  [ $# -gt 0 ] || usage
  name=${name:-$1}
  mkdir -p "$state"
  skip_if_not_needed
  ensure_running
  if [ "$needs_kvm" -eq 1 ] && [ "$(ready_value kvm)" != ok ]; then
    echo "SKIP: no /dev/kvm in the test VM: $(ready_value kvm)"
    exit "$SKIP"
  fi
  [ -z "$gtest_only" ] || skip_unless_listed_tests_exist "$1"
  local -a cmd
  mapfile -d '' -t cmd < <(filtered_command "$@")
  echo "hwbp test VM: $name (kernel $(ready_value kernel), time limit $limit s)"
  local rc=0
  wait_for_job "$(submit_job "$limit" "${cmd[@]}")" "$limit" || rc=$?
  # A VM that died or hung is a failure whatever the test: QEMU's miscounts do not explain it.
  [ -z "$evidence" ] || [ "$vm_failed" -eq 1 ] || report_evidence "$rc"
  exit "$rc"
}

# A result the VM cannot decide: shown, then skipped so it neither passes nor fails.
report_evidence() {
  local verdict="passed"
  [ "$1" -eq 0 ] || verdict="exit status $1 (output above)"
  [ "$1" -eq "$SKIP" ] && verdict="skipped itself"
  echo "SKIP: evidence only, $evidence; in the test VM: $verdict"
  exit "$SKIP"
}

main() {
  [ $# -gt 0 ] || usage
  local command=$1
  shift
  state="" hwbp_cli="" name="" limit=600 needs_hardware=0 needs_kvm=0 gtest_exclude=() gtest_only=""
  evidence="" vm_failed=0
  while [ $# -gt 0 ]; do
    case $1 in
      --state) state=$(realpath -m "$2"); shift 2 ;;
      --hwbp) hwbp_cli=$2; shift 2 ;;
      --name) name=$2; shift 2 ;;
      --timeout) limit=$2; shift 2 ;;
      --hardware) needs_hardware=1; shift ;;
      --kvm) needs_kvm=1; shift ;;
      --gtest-exclude) gtest_exclude+=("$2"); shift 2 ;;
      --gtest-only) gtest_only=$2; shift 2 ;;
      --evidence) evidence=$2; shift 2 ;;
      --) shift; break ;;
      *) bad_argument "unknown option '$1' (see the header of $0)" ;;
    esac
  done
  check_arguments
  session=$(session_dir)
  case $command in
    start) cmd_start ;;
    run) cmd_run "$@" ;;
    stop) cmd_stop ;;
    once)
      session=$state/session-$(owner_id $$)  # stale once this shell is gone
      trap 'cmd_stop >/dev/null' EXIT
      cmd_run "$@" ;;
    *) usage ;;
  esac
}

main "$@"
