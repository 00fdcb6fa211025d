#!/usr/bin/env bash
# agent.sh SHARE KVM_STATUS IDLE_SECONDS: the job runner inside the test VM (run by its /init in
# a chroot over the host's files). The host (vm.sh run) puts a job directory into SHARE/jobs/:
# cmd.sh (environment, working directory, command) and timeout (seconds). The agent runs each
# new job at once, in parallel like ctest -j, under `timeout`, and writes out (stdout+stderr)
# and then rc (the exit status; 124/137 = killed at the time limit) into that directory.
#
# It announces itself in SHARE/ready, stops when SHARE/poweroff appears, and powers the VM off
# after IDLE_SECONDS without jobs, so a VM whose ctest run was interrupted does not live on.
set -uo pipefail
share=$1 kvm_status=$2 idle_limit=${3:-600}

write_ready() {
  {
    echo "kernel=$(uname -r)"
    echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    echo "cpus=$(nproc)"
    echo "kvm=$kvm_status"
    echo "uptime=$(cut -d' ' -f1 /proc/uptime)"
  } >"$share/ready.part"
  mv "$share/ready.part" "$share/ready"
}

# timeout puts the job in a process group of its own and kills the whole group at the limit
# (-k: SIGKILL 10 s after SIGTERM). What a job leaves running when it ends (a test's target
# program) is killed with that group too, so it cannot slow the next tests down.
run_job() {
  local dir=$1 limit rc pid
  limit=$(cat "$dir/timeout")
  cd / || return
  timeout -k 10 "$limit" bash "$dir/cmd.sh" </dev/null >"$dir/out" 2>&1 &
  pid=$!
  wait "$pid"
  rc=$?
  kill -KILL -- "-$pid" 2>/dev/null
  echo "$rc" >"$dir/rc.part"
  mv "$dir/rc.part" "$dir/rc"
}

start_new_jobs() {
  local dir
  for dir in "$share"/jobs/*/; do
    if [ ! -f "$dir/timeout" ] || [ -e "$dir/started" ]; then continue; fi
    : >"$dir/started"
    run_job "${dir%/}" &
  done
}

# Idle costs matter: in TCG every fork is ~40 ms of emulated work taken from the tests, so the
# polling loop forks nothing (read -t instead of sleep, jobs into a file instead of $(...)).
main() {
  mkdir -p "$share/jobs"
  write_ready
  local idle_since=$SECONDS running=/run/hwbp-agent.jobs tick
  exec {tick}<> <(:)
  while [ ! -e "$share/poweroff" ]; do
    start_new_jobs
    jobs -rp >"$running"
    if [ -s "$running" ]; then
      idle_since=$SECONDS
    elif [ $((SECONDS - idle_since)) -ge "$idle_limit" ]; then
      echo "hwbp test VM: idle for $idle_limit s, powering off"
      break
    fi
    read -r -t 0.2 -u "$tick" || true
  done
}

main
