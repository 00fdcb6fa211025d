// The int3 table (src/ptrace/software_breakpoints.hpp) in a real traced program: the byte lands
// in its read-only text, shared breakpoints are reference-counted, every original byte comes
// back (the program then runs normally), and unmapped addresses are typed errors.
#include "ptrace/software_breakpoints.hpp"

#include <gtest/gtest.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "hwbp/error.hpp"
#include "ptrace/remote_memory.hpp"
#include "support/traced_child.hpp"

namespace hwbp::ptrace {
namespace {

using test::TracedChild;

// The program's entry point (AT_ENTRY in /proc/PID/auxv): code in its read-only text mapping.
std::uint64_t entry_point(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/auxv", std::ios::binary);
  std::uint64_t kv[2];
  while (in.read(reinterpret_cast<char*>(kv), sizeof kv))
    if (kv[0] == 9 /* AT_ENTRY */) return kv[1];
  return 0;
}

std::uint8_t byte_at(const RemoteMemory& m, std::uint64_t addr) { return m.read(addr, 1).at(0); }

int run_to_exit(TracedChild& c) {
  ::ptrace(PTRACE_CONT, c.pid(), nullptr, 0);
  for (;;) {
    auto st = c.wait();
    if (!st) return -1;
    auto [tid, status] = *st;
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      if (tid == c.pid()) return status;
      continue;
    }
    const int sig = (status >> 16) == 0 && WSTOPSIG(status) != (SIGTRAP | 0x80) ? WSTOPSIG(status) : 0;
    ::ptrace(PTRACE_CONT, tid, nullptr, sig);
  }
}

TEST(SoftwareBreakpoints, InsertRefCountAndRestoreInRealText) {
  TracedChild c({std::string(HWBP_PTRACE_PROGRAMS) + "/remote_ops", "none"});  // stopped at exec
  const std::uint64_t entry = entry_point(c.pid());
  ASSERT_NE(entry, 0u);
  RemoteMemory mem(c.pid());
  const std::uint8_t original = byte_at(mem, entry);
  ASSERT_NE(original, kInt3);
  SoftwareBreakpoints bps;
  bps.insert(mem, entry);
  EXPECT_EQ(byte_at(mem, entry), kInt3);  // FOLL_FORCE write into read-only text
  EXPECT_EQ(bps.original(entry), original);
  bps.insert(mem, entry);  // a second watch on the same instruction: one breakpoint
  EXPECT_EQ(bps.original(entry), original);  // not the int3 read back
  bps.remove(mem, entry);
  EXPECT_EQ(byte_at(mem, entry), kInt3);  // still one reference
  bps.lift(mem, entry);
  EXPECT_EQ(byte_at(mem, entry), original);
  bps.lower(mem, entry);
  EXPECT_EQ(byte_at(mem, entry), kInt3);
  // A fork child's copy: restored there, kept here.
  bps.restore_all(mem, false);
  EXPECT_EQ(byte_at(mem, entry), original);
  EXPECT_TRUE(bps.inserted(entry));
  bps.lower(mem, entry);
  bps.remove(mem, entry);
  EXPECT_EQ(byte_at(mem, entry), original);
  EXPECT_FALSE(bps.inserted(entry));
  EXPECT_TRUE(bps.ever_inserted(entry));  // a late trap there is still recognised
  // Unmapped memory: a typed error, nothing recorded.
  EXPECT_THROW(bps.insert(mem, 0x1000), Error);
  EXPECT_FALSE(bps.ever_inserted(0x1000));
  // Every byte back: the program runs as if never touched.
  const int status = run_to_exit(c);
  ASSERT_TRUE(WIFEXITED(status)) << status;  // not killed by a SIGTRAP
  EXPECT_EQ(WEXITSTATUS(status), 2);          // remote_ops' answer to an unknown mode
}

}  // namespace
}  // namespace hwbp::ptrace
