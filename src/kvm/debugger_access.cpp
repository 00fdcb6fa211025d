// GuestDebugger: guest memory and registers as a vCPU sees them.
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "kvm/debugger_state.hpp"

namespace hwbp::kvm {

PagingState GuestDebugger::Impl::paging(const VcpuState& v) const {
  if (v.synced) {
    const kvm_sregs& s = v.run->s.regs.sregs;
    return PagingState{s.cr0, s.cr3, s.cr4, s.efer};
  }
  kvm_sregs sregs{};
  if (::ioctl(v.fd, KVM_GET_SREGS, &sregs) < 0) throw ioctl_error("KVM_GET_SREGS", errno);
  return PagingState{sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer};
}

Translation GuestDebugger::Impl::walk(const VcpuState& v, std::uint64_t gva) const {
  Translation t = walk_page_tables(paging(v), gva, *ram);
  if (t.failure != WalkFailure::table_unreadable) return t;
  // The page tables are outside the RAM we were given (a ROM, another memslot): KVM can walk
  // them.
  kvm_translation tr{};
  tr.linear_address = gva;
  if (::ioctl(v.fd, KVM_TRANSLATE, &tr) == 0 && tr.valid) return {tr.physical_address, WalkFailure::none};
  return t;
}

std::uint64_t GuestDebugger::Impl::linear_rip(const VcpuState& v) const {
  return v.run->s.regs.sregs.cs.base + v.run->s.regs.regs.rip;
}

bool GuestDebugger::Impl::read_virtual(const VcpuState& v, std::uint64_t gva, std::uint8_t* out,
                                       std::size_t len) const {
  while (len > 0) {
    const std::size_t n = std::min<std::uint64_t>(len, ((gva | (kGuestPageSize - 1)) + 1) - gva);
    const Translation t = walk(v, gva);
    if (!t.guest_phys || !ram->read_physical(*t.guest_phys, out, n)) return false;
    gva += n;
    out += n;
    len -= n;
  }
  return true;
}

std::uint64_t GuestDebugger::translate(unsigned vcpu, std::uint64_t gva) const {
  std::lock_guard lock(impl_->mutex);
  impl_->require_vcpu(vcpu);
  const Translation t = impl_->walk(*impl_->vcpus[vcpu], gva);
  if (!t.guest_phys) {
    char b[32];
    std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(gva));
    throw Error(Errc::invalid_request,
                std::string("guest address ") + b + " does not translate: " + to_string(t.failure));
  }
  return *t.guest_phys;
}

void GuestDebugger::read_guest(unsigned vcpu, std::uint64_t gva, std::span<std::uint8_t> out) const {
  std::lock_guard lock(impl_->mutex);
  impl_->require_vcpu(vcpu);
  if (!impl_->read_virtual(*impl_->vcpus[vcpu], gva, out.data(), out.size()))
    throw Error(Errc::invalid_request, "guest memory at the requested address is not mapped guest RAM");
}

void GuestDebugger::write_guest(unsigned vcpu, std::uint64_t gva, std::span<const std::uint8_t> bytes) {
  std::lock_guard lock(impl_->mutex);
  impl_->require_vcpu(vcpu);
  const VcpuState& v = *impl_->vcpus[vcpu];
  std::size_t done = 0;
  while (done < bytes.size()) {
    const std::uint64_t a = gva + done;
    const std::size_t n = std::min<std::uint64_t>(bytes.size() - done, ((a | (kGuestPageSize - 1)) + 1) - a);
    const Translation t = impl_->walk(v, a);
    if (!t.guest_phys || !impl_->ram->write_physical(*t.guest_phys, bytes.data() + done, n))
      throw Error(Errc::invalid_request, "guest memory at the requested address is not mapped guest RAM");
    done += n;
  }
}

kvm_regs GuestDebugger::registers(unsigned vcpu) const {
  impl_->require_vcpu(vcpu);
  kvm_regs regs{};
  if (::ioctl(impl_->vcpus[vcpu]->fd, KVM_GET_REGS, &regs) < 0) throw ioctl_error("KVM_GET_REGS", errno);
  return regs;
}

void GuestDebugger::set_registers(unsigned vcpu, const kvm_regs& regs) {
  std::lock_guard lock(impl_->mutex);
  impl_->require_vcpu(vcpu);
  VcpuState& v = *impl_->vcpus[vcpu];
  if (v.running)
    throw Error(Errc::invalid_state,
                "cannot set the registers of vCPU " + std::to_string(vcpu) + ": it is running");
  if (::ioctl(v.fd, KVM_SET_REGS, &regs) < 0) throw ioctl_error("KVM_SET_REGS", errno);
  // Keep the synced copy current: the step-over decision compares rip with where it stopped.
  v.run->s.regs.regs = regs;
}

}  // namespace hwbp::kvm
