// Capabilities of this machine's KVM: what KVM_CHECK_EXTENSION says, which backend module is
// loaded, and what a tiny guest measured (probe_guest.cpp).
#include <dirent.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>

#include "hwbp/kvm.hpp"
#include "kvm/kvm_fd.hpp"
#include "kvm/probe_guest.hpp"

namespace hwbp::kvm {

namespace {

constexpr int kApiVersion = 12;  // KVM_API_VERSION, unchanged since Linux 2.6.22

bool module_loaded(const char* name) {
  return ::access((std::string("/sys/module/") + name).c_str(), F_OK) == 0;
}

// kvm_intel and kvm_amd are the hardware backends; anything else named kvm_* besides the
// generic kvm module is another backend (kvm_pvm on the development machines).
void detect_backend(Capabilities& caps) {
  if (module_loaded("kvm_intel")) {
    caps.backend = Backend::vmx;
    caps.module = "kvm_intel";
    return;
  }
  if (module_loaded("kvm_amd")) {
    caps.backend = Backend::svm;
    caps.module = "kvm_amd";
    return;
  }
  caps.backend = Backend::software;
  if (DIR* dir = ::opendir("/sys/module")) {
    while (const dirent* e = ::readdir(dir)) {
      const std::string name = e->d_name;
      if (name.rfind("kvm_", 0) == 0) {
        caps.module = name;
        break;
      }
    }
    ::closedir(dir);
  }
}

int extension(int fd, long cap) {
  const int rc = ::ioctl(fd, KVM_CHECK_EXTENSION, cap);
  return rc < 0 ? 0 : rc;
}

struct ProbeOutcome {
  Capabilities caps;
  std::string seen_data, seen_int3, seen_gd, seen_store;
  std::optional<KvmError> no_kvm;
};

ProbeOutcome run_probe() {
  ProbeOutcome out;
  const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT)
      out.no_kvm.emplace(Errc::unsupported, Feature::dev_kvm,
                         "no /dev/kvm on this machine: KVM is not available here (no VMX/SVM, or no kvm "
                         "module loaded); load kvm_intel or kvm_amd, or use a machine with virtualization",
                         err);
    else if (err == EACCES || err == EPERM)
      out.no_kvm.emplace(Errc::permission, Feature::dev_kvm,
                         "/dev/kvm is not read/write for this user: add the user to the kvm group (or run "
                         "as root)",
                         err);
    else
      out.no_kvm.emplace(Errc::system, Feature::dev_kvm,
                         std::string("cannot open /dev/kvm: ") + std::strerror(err), err);
    return out;
  }
  OwnedFd kvm(fd);
  Capabilities& c = out.caps;
  c.api_version = ::ioctl(fd, KVM_GET_API_VERSION, 0);
  detect_backend(c);
  c.guest_debug = extension(fd, KVM_CAP_SET_GUEST_DEBUG) > 0;
  c.guest_debug_mask = static_cast<std::uint32_t>(extension(fd, KVM_CAP_SET_GUEST_DEBUG2));
  c.block_irq = (c.guest_debug_mask & KVM_GUESTDBG_BLOCKIRQ) != 0;
  c.debug_registers = extension(fd, KVM_CAP_DEBUGREGS) > 0;
  c.readonly_memory = extension(fd, KVM_CAP_READONLY_MEM) > 0;
  c.sync_registers = (extension(fd, KVM_CAP_SYNC_REGS) & (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS)) ==
                     (KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS);
  c.memslots = static_cast<unsigned>(extension(fd, KVM_CAP_NR_MEMSLOTS));
  if (c.api_version != kApiVersion) return out;
  const ProbeGuestResults g = run_probe_guest(fd, c.readonly_memory);
  c.guest_ran = g.ran;
  c.guest_error = g.error;
  // x86 advertised KVM_CAP_SET_GUEST_DEBUG only from Linux 5.8 (495907ec36de): a working
  // ioctl says more than the capability.
  c.guest_debug = c.guest_debug || g.guest_debug_ioctl;
  c.data_hits = g.data_hits;
  c.int3_exits = g.int3_exits;
  c.general_detect_exits = g.general_detect_exits;
  c.trapped_stores = g.trapped_stores;
  out.seen_data = g.data_hits_seen;
  out.seen_int3 = g.int3_seen;
  out.seen_gd = g.general_detect_seen;
  out.seen_store = g.trapped_stores_seen;
  return out;
}

const ProbeOutcome& probed() {
  static const ProbeOutcome outcome = run_probe();
  return outcome;
}

std::string backend_words(const Capabilities& c) {
  return c.module.empty() ? std::string(to_string(c.backend)) : c.module;
}

std::string hex(std::uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%x", v);
  return b;
}

}  // namespace

const char* to_string(Feature feature) noexcept {
  switch (feature) {
    case Feature::dev_kvm:
      return "/dev/kvm";
    case Feature::api_version:
      return "KVM API version 12";
    case Feature::guest_debug:
      return "guest debugging (KVM_SET_GUEST_DEBUG)";
    case Feature::block_irq:
      return "KVM_GUESTDBG_BLOCKIRQ";
    case Feature::debug_registers:
      return "guest debug registers (KVM_GET/SET_DEBUGREGS)";
    case Feature::readonly_memory:
      return "read-only memslots (KVM_CAP_READONLY_MEM)";
    case Feature::sync_registers:
      return "registers in kvm_run (KVM_CAP_SYNC_REGS)";
    case Feature::data_hits:
      return "guest data-breakpoint hits";
    case Feature::int3_exits:
      return "int3 exits (KVM_GUESTDBG_USE_SW_BP)";
    case Feature::general_detect_exits:
      return "general-detect exits (DR7.GD)";
    case Feature::trapped_stores:
      return "exact MMIO exits for stores into read-only memory";
  }
  return "?";
}

const char* to_string(Backend backend) noexcept {
  switch (backend) {
    case Backend::none:
      return "none";
    case Backend::vmx:
      return "vmx";
    case Backend::svm:
      return "svm";
    case Backend::software:
      return "software";
  }
  return "?";
}

bool Capabilities::has(Feature feature) const noexcept {
  switch (feature) {
    case Feature::dev_kvm:
      return backend != Backend::none || api_version != 0;
    case Feature::api_version:
      return api_version == kApiVersion;
    case Feature::guest_debug:
      return guest_debug;
    case Feature::block_irq:
      return block_irq;
    case Feature::debug_registers:
      return debug_registers;
    case Feature::readonly_memory:
      return readonly_memory;
    case Feature::sync_registers:
      return sync_registers;
    case Feature::data_hits:
      return data_hits;
    case Feature::int3_exits:
      return int3_exits;
    case Feature::general_detect_exits:
      return general_detect_exits;
    case Feature::trapped_stores:
      return trapped_stores;
  }
  return false;
}

KvmError Capabilities::missing(Feature feature) const {
  const std::string backend = backend_words(*this);
  const ProbeOutcome& o = probed();
  const std::string unmeasured = guest_ran ? "" : " (the probe guest did not run: " + guest_error + ")";
  switch (feature) {
    case Feature::dev_kvm:
      if (o.no_kvm) return *o.no_kvm;
      return KvmError(Errc::unsupported, feature, "no usable /dev/kvm");
    case Feature::api_version:
      return KvmError(Errc::unsupported, feature,
                      "KVM API version " + std::to_string(api_version) +
                          ", not 12: this kernel's KVM interface is not the one the library speaks");
    case Feature::guest_debug:
      return KvmError(Errc::unsupported, feature,
                      "this kernel's KVM cannot debug guests (KVM_CAP_SET_GUEST_DEBUG is 0 and the ioctl "
                      "failed" +
                          unmeasured + "): guest breakpoints need a KVM with KVM_SET_GUEST_DEBUG");
    case Feature::block_irq:
      return KvmError(Errc::unsupported, feature,
                      "KVM_GUESTDBG_BLOCKIRQ is not in this kernel's SET_GUEST_DEBUG2 mask (" +
                          hex(guest_debug_mask) +
                          "): single-steps may land in interrupt handlers; it needs Linux 5.15 or later");
    case Feature::debug_registers:
      return KvmError(Errc::unsupported, feature,
                      "KVM_CAP_DEBUGREGS is missing: the guest's own debug registers cannot be read, and a "
                      "#DB given back to the guest cannot carry its DR6");
    case Feature::readonly_memory:
      return KvmError(Errc::unsupported, feature,
                      "KVM_CAP_READONLY_MEM is missing on this " + backend +
                          " backend: write-trap watches need read-only memslots; use hardware watches (4 "
                          "debug registers)");
    case Feature::sync_registers:
      return KvmError(
          Errc::unsupported, feature,
          "KVM_CAP_SYNC_REGS (registers and control registers) is missing: the library reads them "
          "from kvm_run at every exit; it needs Linux 4.17 or later");
    case Feature::data_hits:
      return KvmError(Errc::unsupported, feature,
                      "this KVM backend (" + backend +
                          ") does not report guest data-breakpoint hits (probe guest: " +
                          (guest_ran ? o.seen_data : guest_error) +
                          "): write and modify watches use write trapping instead (Engine::automatic does); "
                          "read and read-write watches need a kvm_intel or kvm_amd host");
    case Feature::int3_exits:
      return KvmError(Errc::unsupported, feature,
                      "this KVM backend (" + backend +
                          ") does not exit to the VMM on a guest int3 with "
                          "KVM_GUESTDBG_USE_SW_BP (probe guest: " +
                          (guest_ran ? o.seen_int3 : guest_error) +
                          "): software breakpoints cannot work here; use hardware breakpoints");
    case Feature::general_detect_exits:
      return KvmError(
          Errc::unsupported, feature,
          "this KVM backend (" + backend +
              ") does not exit on a guest MOV DR under DR7.GD (probe "
              "guest: " +
              (guest_ran ? o.seen_gd : guest_error) +
              "): debug-register access detection needs a host whose KVM delivers it (kvm_intel)");
    case Feature::trapped_stores:
      return KvmError(Errc::unsupported, feature,
                      "on this KVM backend (" + backend +
                          ") a store into a read-only memslot does not exit "
                          "with its data (probe guest: " +
                          (guest_ran ? o.seen_store : guest_error) +
                          "): write-trap watches cannot work here; use hardware watches");
  }
  return KvmError(Errc::unsupported, feature, "unknown feature");
}

std::string Capabilities::describe() const {
  std::string out;
  for (Feature f : {Feature::api_version, Feature::guest_debug, Feature::block_irq, Feature::debug_registers,
                    Feature::readonly_memory, Feature::sync_registers, Feature::data_hits,
                    Feature::int3_exits, Feature::general_detect_exits, Feature::trapped_stores}) {
    if (has(f))
      out += std::string("ok  ") + to_string(f) + "\n";
    else
      out += std::string("no  ") + to_string(f) + ": " + missing(f).what() + "\n";
  }
  return out;
}

const Capabilities& probe() {
  const ProbeOutcome& o = probed();
  if (o.no_kvm) throw *o.no_kvm;
  return o.caps;
}

}  // namespace hwbp::kvm
