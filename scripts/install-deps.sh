#!/usr/bin/env bash
# Installs the Debian packages hwbp needs to build, test and benchmark. Idempotent: does nothing
# when everything is present, so `make test` and `make demo` can call it every time.
set -euo pipefail
PACKAGES=(
  cmake make g++ pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev libfmt-dev nlohmann-json3-dev
  gdb
  qemu-system-x86
  libdw-dev libelf-dev libzydis-dev clang libbpf-dev linux-libc-dev
  libc6-dbg  # libc's DWARF (/usr/lib/debug/.build-id): libc frames named as GDB names them
  debuginfod xz-utils binutils  # cli.run_debuginfo_test: a local debuginfod server, MiniDebugInfo
  libclang-rt-14-dev  # libFuzzer (fuzz/): only recommended by clang-14, and installs skip those
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "hwbp: missing Debian packages: ${missing[*]}; run 'make deps' as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "hwbp: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
