// Pure logic of the ptrace transport: what a system call writes (syscall_table) and the maps
// parser. No process involved.
#include "ptrace/syscall_table.hpp"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <cstring>
#include <map>

#include "ptrace/memory_map.hpp"

namespace hwbp::ptrace {
namespace {

using Kind = SyscallEffect::Kind;
using Args = std::array<std::uint64_t, 6>;

// A fake target memory: addr -> bytes.
struct FakeMemory {
  std::map<std::uint64_t, std::vector<std::uint8_t>> blocks;
  void put(std::uint64_t addr, const void* data, std::size_t len) {
    auto* p = static_cast<const std::uint8_t*>(data);
    blocks[addr] = std::vector<std::uint8_t>(p, p + len);
  }
  ArgumentReader reader() const {
    return [this](std::uint64_t addr, void* out, std::size_t len) {
      for (const auto& [a, b] : blocks)
        if (addr >= a && addr + len <= a + b.size()) {
          std::memcpy(out, b.data() + (addr - a), len);
          return true;
        }
      return false;
    };
  }
};

TEST(SyscallTable, ReadFamilyIsRedirectedWithItsBuffer) {
  FakeMemory mem;
  SyscallEffect e = syscall_effect(SYS_read, Args{3, 0x5000, 100}, mem.reader());
  EXPECT_EQ(e.kind, Kind::redirect);
  EXPECT_STREQ(e.name, "read");
  EXPECT_EQ(e.arg, 1);
  EXPECT_EQ(e.outputs, (std::vector<OutputRange>{{0x5000, 100}}));
  e = syscall_effect(SYS_getrandom, Args{0x7000, 16, 0}, mem.reader());
  EXPECT_EQ(e.kind, Kind::redirect);
  EXPECT_EQ(e.arg, 0);
  EXPECT_EQ(e.outputs, (std::vector<OutputRange>{{0x7000, 16}}));
}

TEST(SyscallTable, ReadvReadsTheIovecs) {
  FakeMemory mem;
  const std::uint64_t iov[4] = {0x1000, 3, 0x2000, 5};
  mem.put(0x9000, iov, sizeof iov);
  SyscallEffect e = syscall_effect(SYS_readv, Args{3, 0x9000, 2}, mem.reader());
  EXPECT_EQ(e.kind, Kind::redirect_iov);
  EXPECT_EQ(e.arg, 1);
  EXPECT_EQ(e.outputs, (std::vector<OutputRange>{{0x1000, 3}, {0x2000, 5}}));
}

TEST(SyscallTable, RecvfromAddressIsAnExtraOutput) {
  FakeMemory mem;
  const std::uint32_t len = 16;
  mem.put(0x3000, &len, sizeof len);
  SyscallEffect e = syscall_effect(SYS_recvfrom, Args{3, 0x5000, 64, 0, 0x4000, 0x3000}, mem.reader());
  EXPECT_EQ(e.kind, Kind::redirect);
  EXPECT_EQ(e.extra, (std::vector<OutputRange>{{0x4000, 16}, {0x3000, 4}}));
}

TEST(SyscallTable, RecvmsgOutputsComeFromTheMsghdr) {
  FakeMemory mem;
  const std::uint64_t iov[2] = {0x6000, 32};
  mem.put(0xa000, iov, sizeof iov);
  const std::uint64_t msg[7] = {0x7000, 12, 0xa000, 1, 0x8000, 40, 0};
  mem.put(0xb000, msg, sizeof msg);
  SyscallEffect e = syscall_effect(SYS_recvmsg, Args{3, 0xb000, 0}, mem.reader());
  EXPECT_EQ(e.kind, Kind::released);
  EXPECT_EQ(e.outputs, (std::vector<OutputRange>{{0xb000, 56}, {0x7000, 12}, {0x6000, 32}, {0x8000, 40}}));
}

TEST(SyscallTable, IoctlSizeComesFromTheCommand) {
  FakeMemory mem;
  // _IOR('T', 1, 24 bytes): dir 2 (read) << 30 | size << 16 | type << 8 | nr.
  const std::uint64_t ior = (2ull << 30) | (24ull << 16) | ('T' << 8) | 1;
  EXPECT_EQ(syscall_effect(SYS_ioctl, Args{3, ior, 0x5000}, mem.reader()).outputs,
            (std::vector<OutputRange>{{0x5000, 24}}));
  const std::uint64_t iow = (1ull << 30) | (24ull << 16) | ('T' << 8) | 1;  // the kernel only reads
  EXPECT_TRUE(syscall_effect(SYS_ioctl, Args{3, iow, 0x5000}, mem.reader()).outputs.empty());
  EXPECT_EQ(syscall_effect(SYS_ioctl, Args{0, 0x5413, 0x5000}, mem.reader()).outputs,  // TIOCGWINSZ
            (std::vector<OutputRange>{{0x5000, 8}}));
}

TEST(SyscallTable, FutexWritesOnlyForOperationsThatWrite) {
  FakeMemory mem;
  EXPECT_EQ(syscall_effect(SYS_futex, Args{0x5000, 0 | 128, 1}, mem.reader()).kind,
            Kind::none);                                                                     // WAIT_PRIVATE
  EXPECT_EQ(syscall_effect(SYS_futex, Args{0x5000, 1, 1}, mem.reader()).kind, Kind::none);   // WAKE
  EXPECT_EQ(syscall_effect(SYS_futex, Args{0x5000, 5, 1, 0, 0x6000}, mem.reader()).outputs,  // WAKE_OP
            (std::vector<OutputRange>{{0x6000, 4}}));
  EXPECT_EQ(syscall_effect(SYS_futex, Args{0x5000, 6 | 128}, mem.reader()).outputs,  // LOCK_PI
            (std::vector<OutputRange>{{0x5000, 4}}));
}

TEST(SyscallTable, MemoryManagementKinds) {
  FakeMemory mem;
  EXPECT_EQ(syscall_effect(SYS_munmap, Args{0x5000, 4096}, mem.reader()).kind, Kind::unmap);
  EXPECT_EQ(syscall_effect(SYS_mmap, Args{0, 4096, 3, MAP_PRIVATE | MAP_ANONYMOUS}, mem.reader()).kind,
            Kind::none);
  EXPECT_EQ(syscall_effect(SYS_mmap, Args{0x5000, 4096, 3, MAP_PRIVATE | MAP_FIXED}, mem.reader()).kind,
            Kind::unmap);
  EXPECT_EQ(
      syscall_effect(SYS_mmap, Args{0x5000, 4096, 3, MAP_PRIVATE | MAP_FIXED_NOREPLACE}, mem.reader()).kind,
      Kind::none);
  EXPECT_EQ(syscall_effect(SYS_mremap, Args{}, mem.reader()).kind, Kind::remap);
  EXPECT_EQ(syscall_effect(SYS_mprotect, Args{}, mem.reader()).kind, Kind::protect);
  EXPECT_EQ(syscall_effect(SYS_madvise, Args{0x5000, 4096, MADV_DONTNEED}, mem.reader()).kind, Kind::discard);
  EXPECT_EQ(syscall_effect(SYS_madvise, Args{0x5000, 4096, MADV_WILLNEED}, mem.reader()).kind, Kind::none);
  EXPECT_EQ(syscall_effect(SYS_brk, Args{}, mem.reader()).kind, Kind::check_mapped);
  SyscallEffect rseq = syscall_effect(SYS_rseq, Args{0x5000, 32, 0, 0x53053053}, mem.reader());
  EXPECT_EQ(rseq.kind, Kind::kernel_area);
  EXPECT_EQ(rseq.area_len, 32u);
  EXPECT_EQ(syscall_effect(SYS_rseq, Args{0x5000, 32, 1}, mem.reader()).kind, Kind::none);  // unregister
}

TEST(SyscallTable, NamesEvenForUnlistedCalls) {
  EXPECT_STREQ(syscall_name(SYS_read), "read");
  EXPECT_STREQ(syscall_name(SYS_write), "write");
  EXPECT_STREQ(syscall_name(SYS_newfstatat), "newfstatat");
  EXPECT_STREQ(syscall_name(SYS_getpid), "syscall 39");
}

TEST(MemoryMap, ParsesTheKernelsFormat) {
  auto maps = parse_maps(
      "55fa5ae6e000-55fa5ae6f000 r-xp 00001000 fe:00 5374195                    /usr/bin/prog\n"
      "7f08cd54f000-7f08cd555000 rw-s 00000000 00:01 12 /dev/zero (deleted)\n"
      "7ffcad2d9000-7ffcad2fa000 rw-p 00000000 00:00 0                          [stack]\n"
      "garbage line\n"
      "7f08cd53d000-7f08cd54d000 ---p 00000000 00:00 0 \n");
  ASSERT_EQ(maps.size(), 4u);
  EXPECT_EQ(maps[0].start, 0x55fa5ae6e000u);
  EXPECT_EQ(maps[0].end, 0x55fa5ae6f000u);
  EXPECT_EQ(maps[0].prot, PROT_READ | PROT_EXEC);
  EXPECT_FALSE(maps[0].shared);
  EXPECT_EQ(maps[0].offset, 0x1000u);
  EXPECT_EQ(maps[0].path, "/usr/bin/prog");
  EXPECT_TRUE(maps[1].shared);
  EXPECT_EQ(maps[1].path, "/dev/zero (deleted)");
  EXPECT_EQ(maps[2].path, "[stack]");
  EXPECT_EQ(maps[3].prot, 0);
  EXPECT_EQ(maps[3].path, "");
  EXPECT_EQ(find_mapping(maps, 0x7ffcad2d9abc), &maps[2]);
  EXPECT_EQ(find_mapping(maps, 0x1000), nullptr);
}

}  // namespace
}  // namespace hwbp::ptrace
