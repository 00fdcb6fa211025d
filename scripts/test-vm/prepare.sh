#!/usr/bin/env bash
# prepare.sh [--install-packages]: makes sure the test VM's image is in the cache and that this
# machine can run it; prints the image directory on success.
#
# The image is built from Debian packages only and never installed as the machine's QEMU or
# kernel: QEMU 10 and SeaBIOS from bookworm-backports and the backports kernel are fetched with
# `apt-get download` through a private apt configuration (the machine's apt sources are not
# touched) and unpacked with `dpkg-deb -x`. QEMU 10 because Debian 12's QEMU 7.2 never fires a
# guest breakpoint set through KVM_SET_GUEST_DEBUG under nested SVM (fixed in QEMU 9.1); the 6.12
# kernel because it has 9p and a BPF verifier that accepts hwbp's program (see
# docs/test-vm.md and the reference notes, test-vm.md).
#
# On the machine itself it needs busybox-static, cpio and QEMU's shared libraries (read from the
# downloaded QEMU package's Depends). --install-packages (root) installs what is missing with
# apt-get; without it a missing package is reported with the command that installs it.
#
# Safe to run concurrently: the builder holds a lock, builds in a private directory and renames
# it into place, so a reader sees either no image or a complete one.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/test-vm/common.sh
. "$here/common.sh"

install_packages=0
case ${1:-} in
  "") ;;
  --install-packages) install_packages=1 ;;
  *) echo "prepare.sh: unknown argument '$1' (the only option is --install-packages)" >&2; exit 2 ;;
esac

cache_root=$(hwbp_vm_cache_root)
image=$(hwbp_vm_image_dir)
suite=${HWBP_VM_SUITE:-bookworm-backports}
# Packages the VM is made of: unpacked into the image, never installed.
IMAGE_PACKAGES=(qemu-system-x86 qemu-system-data seabios)
# Needed on the machine to assemble each boot's initramfs.
HOST_PACKAGES=(busybox-static cpio)

require_tools() {
  local t
  for t in apt-get apt-cache dpkg-deb dpkg-query flock xz; do
    command -v "$t" >/dev/null ||
      hwbp_vm_die "'$t' is missing: the test VM is built from Debian packages with apt and dpkg (Debian 12); install $t"
  done
}

# The Debian mirror apt already uses (a local mirror or proxy keeps working), else the default.
debian_mirror() {
  if [ -n "${HWBP_VM_MIRROR:-}" ]; then echo "$HWBP_VM_MIRROR"; return; fi
  local uri
  # shellcheck disable=SC2016 # apt's own $(FIELD) syntax, not the shell's
  uri=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
        awk '$2 == "bookworm" { print $1; exit }')
  echo "${uri:-http://deb.debian.org/debian/}"
}

# A private apt configuration under $1 that sees only the backports suite: its candidates are the
# backports versions, and nothing in /etc/apt or /var/lib/apt is read for sources or written.
setup_private_apt() {
  local dir=$1
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/sources.list.d" "$dir/preferences.d"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) $suite main" \
    >"$dir/sources.list"
  APT_OPTS=(-o "Dir::Etc::SourceList=$dir/sources.list" -o "Dir::Etc::SourceParts=$dir/sources.list.d"
            -o "Dir::Etc::Preferences=$dir/preferences" -o "Dir::Etc::PreferencesParts=$dir/preferences.d"
            -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache" -o "APT::Get::List-Cleanup=0")
  # As root apt downloads as the _apt user, who cannot write into root's cache directory.
  [ "$(id -u)" -eq 0 ] && APT_OPTS+=(-o "APT::Sandbox::User=root")
  return 0
}

fetch_index() {
  local log=$1
  apt-get "${APT_OPTS[@]}" -q --error-on=any update >"$log" 2>&1 ||
    hwbp_vm_die "could not fetch the $suite package index from $(debian_mirror) ($(grep -E '^(E|W):' "$log" | head -1)); check the network or set HWBP_VM_MIRROR, then run scripts/test-vm/prepare.sh"
  apt-cache "${APT_OPTS[@]}" show qemu-system-x86 >/dev/null 2>&1 ||
    hwbp_vm_die "the $suite index from $(debian_mirror) has no qemu-system-x86; set HWBP_VM_MIRROR to a full Debian mirror, then run scripts/test-vm/prepare.sh"
}

# linux-image-amd64 in backports depends on the current versioned kernel package.
kernel_package() {
  if [ -n "${HWBP_VM_KERNEL_PACKAGE:-}" ]; then echo "$HWBP_VM_KERNEL_PACKAGE"; return; fi
  apt-cache "${APT_OPTS[@]}" depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}

download() {
  local dir=$1 log=$2
  shift 2
  (cd "$dir" && apt-get "${APT_OPTS[@]}" -q download "$@" >"$log" 2>&1) ||
    hwbp_vm_die "downloading $* from $(debian_mirror) ($suite) failed ($(grep -E '^(E|W):' "$log" | head -1)); check the network or set HWBP_VM_MIRROR, then run scripts/test-vm/prepare.sh"
}

# Decompresses module $1 and, first, everything it depends on (the .modinfo "depends=" field:
# the package ships no modules.dep, and busybox insmod takes neither .xz nor dependencies).
# Appends each module once to $out/order, dependencies before their users.
resolve_module() {
  local tree=$1 out=$2 name=$3 file base deps dep
  file=$(find "$tree" \( -name "$name.ko*" -o -name "${name//_/-}.ko*" -o -name "${name//-/_}.ko*" \) | head -1)
  [ -n "$file" ] || hwbp_vm_die "the kernel package has no module $name; set HWBP_VM_KERNEL_PACKAGE to a Debian amd64 kernel with it"
  base=$(basename "$file"); base=${base%%.ko*}
  [ -e "$out/$base.ko" ] && return 0
  case $file in
    *.xz) xz -dc "$file" >"$out/$base.ko.part" ;;
    *) cp "$file" "$out/$base.ko.part" ;;
  esac
  deps=$(tr '\0' '\n' <"$out/$base.ko.part" | sed -n 's/^depends=//p' | tr ',' ' ')
  for dep in $deps; do resolve_module "$tree" "$out" "$dep"; done
  mv "$out/$base.ko.part" "$out/$base.ko"
  echo "$base" >>"$out/order"
}

# 9p + its virtio transport and overlay make the host's files visible; kvm-amd gives /dev/kvm
# (TCG emulates AMD SVM, not VMX).
extract_modules() {
  local unpacked=$1 out=$2 release m
  release=$(ls "$unpacked/lib/modules")
  mkdir -p "$out"
  : >"$out/order"
  for m in 9pnet_virtio 9p overlay kvm-amd; do
    resolve_module "$unpacked/lib/modules/$release/kernel" "$out" "$m"
  done
  echo "$release"
}

# QEMU's Depends minus what the image carries itself (qemu-system-*, SeaBIOS) and the NIC boot
# ROMs of ipxe-qemu, which a VM without a network card never loads.
qemu_library_packages() {
  dpkg-deb -f "$1" Depends | tr ',' '\n' | sed -E 's/^ *//; s/[ (].*//' |
    grep -vE '^(qemu-system-|seabios$|ipxe-qemu$)' | tr '\n' ' '
}

build_image() {
  local build=$1 kpkg kver release
  setup_private_apt "$build/apt"
  fetch_index "$build/apt.log"
  kpkg=$(kernel_package)
  [ -n "$kpkg" ] || hwbp_vm_die "the $suite index names no linux-image-amd64 kernel; set HWBP_VM_KERNEL_PACKAGE, then run scripts/test-vm/prepare.sh"
  mkdir -p "$build/debs" "$build/unpacked"
  download "$build/debs" "$build/download.log" "${IMAGE_PACKAGES[@]}" "$kpkg"
  local deb
  for deb in "$build"/debs/*.deb; do dpkg-deb -x "$deb" "$build/unpacked"; done
  mkdir -p "$build/image/qemu/bin" "$build/image/qemu/share" "$build/image/kernel"
  mv "$build/unpacked/usr/bin/qemu-system-x86_64" "$build/image/qemu/bin/"
  mv "$build/unpacked/usr/share/qemu" "$build/unpacked/usr/share/seabios" "$build/image/qemu/share/"
  mv "$build/unpacked"/boot/vmlinuz-* "$build/image/kernel/vmlinuz"
  mv "$build/unpacked"/boot/config-* "$build/image/kernel/config"
  release=$(extract_modules "$build/unpacked" "$build/image/modules")
  kver=$(dpkg-deb -f "$build"/debs/linux-image-*.deb Version)
  write_manifest "$build" "$kpkg" "$kver" "$release"
}

write_manifest() {
  local build=$1 kpkg=$2 kver=$3 release=$4 qemu_deb
  qemu_deb=$(ls "$build"/debs/qemu-system-x86_*.deb)
  {
    echo "recipe=$HWBP_VM_RECIPE"
    echo "suite=$suite"
    echo "mirror=$(debian_mirror)"
    echo "qemu_version=$(dpkg-deb -f "$qemu_deb" Version)"
    echo "seabios_version=$(dpkg-deb -f "$build"/debs/seabios_*.deb Version)"
    echo "kernel_package=$kpkg"
    echo "kernel_version=$kver"
    echo "kernel_release=$release"
    echo "modules=$(tr '\n' ' ' <"$build/image/modules/order")"
    echo "qemu_libraries=$(qemu_library_packages "$qemu_deb")"
    echo "created=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  } >"$build/image/manifest.part"
  mv "$build/image/manifest.part" "$build/image/manifest"
}

manifest_value() {
  sed -n "s/^$1=//p" "$image/manifest"
}

not_installed() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
  done
}

# busybox-static, cpio and every shared library QEMU loads; installs them when allowed.
check_host() {
  local -a wanted missing
  read -r -a wanted <<<"${HOST_PACKAGES[*]} $(manifest_value qemu_libraries)"
  mapfile -t missing < <(not_installed "${wanted[@]}")
  if [ ${#missing[@]} -gt 0 ] && [ "$install_packages" -eq 1 ] && [ "$(id -u)" -eq 0 ]; then
    echo "hwbp test VM: installing ${missing[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
      >"$cache_root/install.log" 2>&1 ||
      hwbp_vm_die "apt-get install ${missing[*]} failed ($(grep -E '^E:' "$cache_root/install.log" | head -1)); fix apt, then run 'make deps' as root"
    mapfile -t missing < <(not_installed "${wanted[@]}")
  fi
  [ ${#missing[@]} -eq 0 ] ||
    hwbp_vm_die "Debian packages the test VM needs are not installed: ${missing[*]}; run 'make deps' as root (or: sudo apt-get install --no-install-recommends ${missing[*]})"
  local unresolved
  unresolved=$(ldd "$image/qemu/bin/qemu-system-x86_64" 2>&1 | awk '/not found/ { print $1 }' | tr '\n' ' ')
  [ -z "$unresolved" ] ||
    hwbp_vm_die "the cached QEMU cannot load ${unresolved}(its Debian dependencies changed?); delete $image and run scripts/test-vm/prepare.sh"
}

# Leftovers of a builder that died: only the lock holder calls this, so none is in use.
remove_stale_builds() {
  local d
  for d in "$cache_root"/.build.*; do [ -e "$d" ] && rm -rf "$d"; done
  return 0
}

build_locked() {
  mkdir -p "$cache_root" || hwbp_vm_die "cannot create the cache directory $cache_root; set HWBP_VM_CACHE to a writable directory"
  exec 9>"$cache_root/.lock"
  flock -w "${HWBP_VM_LOCK_WAIT:-1200}" 9 ||
    hwbp_vm_die "another run has held $cache_root/.lock for ${HWBP_VM_LOCK_WAIT:-1200} s while building the image; wait for it or stop it, then retry"
  hwbp_vm_image_ready && return 0
  remove_stale_builds
  local build
  build=$(mktemp -d "$cache_root/.build.XXXXXX")
  trap 'rm -rf "$build"' EXIT
  echo "hwbp test VM: building the image in $image (QEMU, SeaBIOS and a kernel from $suite; once per machine)" >&2
  build_image "$build"
  mv "$build/image" "$image"
  rm -rf "$build"
  trap - EXIT
}

main() {
  require_tools
  hwbp_vm_image_ready || build_locked
  check_host
  echo "$image"
}

main
