// Software breakpoints (int3, 0xCC) in a traced process: the bytes the engine put into its code
// and the program's own bytes they replaced (issue 15: execute breakpoints beyond the debug
// registers where the uprobe PMU is not permitted).
//
// The byte is written through /proc/PID/mem (remote_memory.hpp): FOLL_FORCE lets the tracer
// write into the read-only private text mapping (mm/gup.c breaks copy-on-write: the page becomes
// the process's private copy, the file is untouched), exactly as GDB inserts its breakpoints.
// Writing a single byte is atomic for instruction fetch on x86, so breakpoints are inserted and
// removed while other threads run: each either executes the int3 (and traps) or the original
// instruction, never a mix.
//
// Several watches on one address share one breakpoint (reference-counted). Addresses that held
// a breakpoint are remembered after it is removed: a thread that trapped on it just before the
// removal still reports SIGTRAP with rip one past it, and must be rewound, not killed.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "ptrace/remote_memory.hpp"

namespace hwbp::ptrace {

inline constexpr std::uint8_t kInt3 = 0xcc;

class SoftwareBreakpoints {
 public:
  // Adds a reference to the breakpoint at addr, writing the int3 if it is the first. Throws
  // hwbp::Error when the address cannot be read or written.
  void insert(const RemoteMemory& memory, std::uint64_t addr);
  // Drops a reference; the last one writes the original byte back (best effort: the memory may
  // be gone).
  void remove(const RemoteMemory& memory, std::uint64_t addr);
  // Writes every original byte back into `memory` (the process at detach, or a fork child that
  // inherited the breakpoints) and, for the process itself, forgets them (`forget`).
  void restore_all(const RemoteMemory& memory, bool forget);

  bool inserted(std::uint64_t addr) const noexcept { return table_.count(addr) != 0; }
  // Did addr hold one of our breakpoints at any time in this address space?
  bool ever_inserted(std::uint64_t addr) const noexcept { return ever_.count(addr) != 0; }
  bool any() const noexcept { return !table_.empty(); }
  bool ever_any() const noexcept { return !ever_.empty(); }
  // The program's byte under the breakpoint at addr (inserted(addr) must hold).
  std::uint8_t original(std::uint64_t addr) const { return table_.at(addr).original; }

  // Puts the program's byte back for one step over the breakpoint, and the int3 again after.
  void lift(const RemoteMemory& memory, std::uint64_t addr) const;
  void lower(const RemoteMemory& memory, std::uint64_t addr) const;

  // The address space was replaced (execve): nothing of ours is in it.
  void forget_all() noexcept {
    table_.clear();
    ever_.clear();
  }

 private:
  struct Entry {
    std::uint8_t original = 0;
    unsigned refs = 0;
  };
  std::map<std::uint64_t, Entry> table_;
  std::set<std::uint64_t> ever_;
};

}  // namespace hwbp::ptrace
