#include "core/arch.hpp"

#include <algorithm>

namespace hwbp::core {

SlotClass slot_class_of(HwType type) noexcept {
  // Kernel find_slot_idx(): anything with an R or W bit is data; only pure X is instruction.
  return type == HwType::exec ? SlotClass::inst : SlotClass::data;
}

const char* to_string(HwType type) noexcept {
  switch (type) {
    case HwType::read:
      return "r";
    case HwType::write:
      return "w";
    case HwType::read_write:
      return "rw";
    case HwType::exec:
      return "x";
  }
  return "?";
}

std::vector<unsigned> slots_per_pool(const ArchInfo& arch) {
  std::vector<unsigned> v;
  for (unsigned p = 0; p < arch.pool_count(); ++p)
    v.push_back(arch.mixed_pool ? arch.data_slots : arch.slots(static_cast<SlotClass>(p)));
  return v;
}

ArchInfo arch_x86_64() noexcept {
  return ArchInfo{
      .kind = ArchKind::x86_64,
      .name = "x86-64",
      .mixed_pool = true,  // HAVE_MIXED_BREAKPOINTS_REGS: DR0-3 serve X and R/W alike
      .inst_slots = 4,
      .data_slots = 4,
      .has_read_only = false,  // DR7 R/W has no read-only encoding (10 is I/O)
      .exec_len = 8,           // perf demands bp_len == sizeof(long) for X
      .max_len = 8,
      .byte_select = false,
  };
}

ArchInfo arch_x86_guest(bool long_mode) noexcept {
  ArchInfo arch = arch_x86_64();
  arch.name = long_mode ? "x86-64 guest" : "x86 guest (not in long mode)";
  arch.exec_len = 1;  // KVM takes raw DR7: LEN 00 for instructions, as the debug_regs selftest
  arch.max_len = long_mode ? 8 : 4;
  return arch;
}

ArchInfo arch_aarch64(unsigned brps, unsigned wrps) noexcept {
  // The architecture guarantees at least 2 of each; the kernel caps both at 16 (ARM_MAX_BRP/WRP).
  auto clamp = [](unsigned n) { return std::clamp(n, 2u, 16u); };
  return ArchInfo{
      .kind = ArchKind::aarch64,
      .name = "aarch64",
      .mixed_pool = false,
      .inst_slots = clamp(brps),
      .data_slots = clamp(wrps),
      .has_read_only = true,
      .exec_len = 4,  // the kernel forces AArch64 execute length to 4 anyway
      .max_len = 8,
      .byte_select = true,  // BAS: any contiguous bytes inside one aligned doubleword
  };
}

ArchInfo host_arch() noexcept {
#if defined(__x86_64__)
  return arch_x86_64();
#elif defined(__aarch64__)
  return arch_aarch64();
#else
#error "hwbp supports x86-64 and aarch64 only"
#endif
}

HwType hw_type_for(const ArchInfo& arch, Access access) noexcept {
  switch (access) {
    case Access::exec:
      return HwType::exec;
    case Access::write:
      return HwType::write;
    case Access::read_write:
      return HwType::read_write;
    // Value-change detection is software; the hardware only needs to see every write.
    case Access::modify:
      return HwType::write;
    // x86 read-only is emulated from read/write hits minus those that changed the value.
    case Access::read:
      return arch.has_read_only ? HwType::read : HwType::read_write;
  }
  return HwType::read_write;
}

}  // namespace hwbp::core
