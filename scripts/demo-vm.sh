#!/usr/bin/env bash
# make demo, the VM part: `hwbp vm` boots the example kernel (examples/guest_kernel) and names the
# function, line and old -> new value of its planted stray write. Runs on this machine's
# /dev/kvm, else inside the test VM (docs/test-vm.md), else says why it cannot.
# The kernel exits with status 3 when it finds max_retries corrupted (its debug-exit value 1,
# QEMU's rule (1 << 1) | 1): that is the bug being demonstrated, not a failure of the demo.
set -u
BUILD=$1
cmd=("$BUILD/tools/hwbp/hwbp" vm -m 64 --watch max_retries "$BUILD/examples/guest_kernel/guest_kernel.elf")
echo "${cmd[*]}"
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
  "${cmd[@]}"
else
  echo "(no /dev/kvm here: running it in the test VM, nested KVM under QEMU TCG; about a minute)"
  "$(dirname "$0")/test-vm/vm.sh" once --state "$BUILD/test-vm" --kvm --timeout 300 -- "${cmd[@]}"
fi
status=$?
[ $status -eq 3 ] || [ $status -eq 77 ] || { echo "hwbp vm demo failed (status $status)" >&2; exit 1; }
