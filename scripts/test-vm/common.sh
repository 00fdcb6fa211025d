# shellcheck shell=bash
# Shared by the test-VM scripts (sourced, not run): where the cache lives and how failures are
# reported. Every failure the user can act on is ONE line: what failed, then what to do.

# The cache outlives build trees and clones (CI builds a clean clone every run, but the same
# machine keeps $HOME): ~100 MB of extracted Debian packages, rebuilt only when the recipe changes.
hwbp_vm_cache_root() {
  echo "${HWBP_VM_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/hwbp/test-vm}"
}

# Bump when the image's contents or layout change: a new recipe gets a fresh directory, so a
# cache written by an older checkout is never half-reused.
HWBP_VM_RECIPE=r1

hwbp_vm_image_dir() {
  echo "$(hwbp_vm_cache_root)/image-$HWBP_VM_RECIPE"
}

# A complete image has its manifest; the manifest is written last, before the atomic rename.
hwbp_vm_image_ready() {
  [ -f "$(hwbp_vm_image_dir)/manifest" ]
}

# hwbp_vm_die MESSAGE...: the one-line diagnosis on stderr, exit 1.
hwbp_vm_die() {
  echo "hwbp test VM: $*" >&2
  exit 1
}
