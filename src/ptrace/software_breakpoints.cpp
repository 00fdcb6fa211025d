#include "ptrace/software_breakpoints.hpp"

namespace hwbp::ptrace {

void SoftwareBreakpoints::insert(const RemoteMemory& memory, std::uint64_t addr) {
  auto it = table_.find(addr);
  if (it != table_.end()) {
    ++it->second.refs;
    return;
  }
  std::uint8_t original = 0;
  memory.read(addr, {&original, 1});  // throws: unmapped
  const std::uint8_t int3 = kInt3;
  memory.write(addr, {&int3, 1});  // throws: not writable even with FOLL_FORCE
  table_[addr] = Entry{original, 1};
  ever_.insert(addr);
}

void SoftwareBreakpoints::remove(const RemoteMemory& memory, std::uint64_t addr) {
  auto it = table_.find(addr);
  if (it == table_.end() || --it->second.refs != 0) return;
  const std::uint8_t original = it->second.original;
  (void)memory.try_write(addr, {&original, 1});
  table_.erase(it);
}

void SoftwareBreakpoints::restore_all(const RemoteMemory& memory, bool forget) {
  for (const auto& [addr, e] : table_) (void)memory.try_write(addr, {&e.original, 1});
  if (forget) table_.clear();
}

void SoftwareBreakpoints::lift(const RemoteMemory& memory, std::uint64_t addr) const {
  const std::uint8_t original = table_.at(addr).original;
  memory.write(addr, {&original, 1});
}

void SoftwareBreakpoints::lower(const RemoteMemory& memory, std::uint64_t addr) const {
  const std::uint8_t int3 = kInt3;
  memory.write(addr, {&int3, 1});
}

}  // namespace hwbp::ptrace
