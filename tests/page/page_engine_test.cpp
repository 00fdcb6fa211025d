// The in-process page engine through the real kernel: real stores in real code (inline asm, so
// the instruction is known), exact old/new bytes and pc, every resolution path, threads,
// long and many watches, modify vs w, fork, and SIGSEGVs that are the program's own.
#include <gtest/gtest.h>

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "hwbp/error.hpp"
#include "page/engine.hpp"
#include "page_test_support.hpp"

namespace hwbp::page::test {
namespace {

class PageEngine : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = unavailable_reason();
    if (!why.empty()) GTEST_SKIP() << "page engine unavailable: " << why;
  }
};

PageWatchOptions watch_of(std::uintptr_t addr, std::size_t len, Recorder& rec, Access a = Access::write) {
  PageWatchOptions o;
  o.addr = addr;
  o.len = len;
  o.access = a;
  o.callback = rec.callback();
  return o;
}

TEST_F(PageEngine, MovStoresOfEverySizeReportExactBytesAndPc) {
  Pages mem(1);
  Recorder rec;
  Armed w(watch_of(mem.at(64), 8, rec));
  std::uintptr_t pc[5];
  std::uint8_t* p = mem.p + 64;
  asm volatile("lea 1f(%%rip), %0\n1: movb $0x11, (%1)" : "=&r"(pc[0]) : "r"(p) : "memory");
  asm volatile("lea 1f(%%rip), %0\n1: movw %w2, 2(%1)" : "=&r"(pc[1]) : "r"(p), "r"(0x2233) : "memory");
  asm volatile("lea 1f(%%rip), %0\n1: movl %k2, 4(%1)" : "=&r"(pc[2]) : "r"(p), "r"(0x44556677) : "memory");
  asm volatile("lea 1f(%%rip), %0\n1: movq %2, (%1)" : "=&r"(pc[3]) : "r"(p), "r"(0x0102030405060708ull) : "memory");
  asm volatile("lea 1f(%%rip), %0\n1: movq $-2, (%1)" : "=&r"(pc[4]) : "r"(p) : "memory");
  ASSERT_EQ(rec.count.load(), 5u);
  const std::uint64_t want_old[5] = {0, 0, 0, 0x4455667722330011, 0x0102030405060708};  // the bytes each store touched
  const std::uint64_t want_new[5] = {0x11, 0x2233, 0x44556677, 0x0102030405060708, 0xfffffffffffffffe};
  const std::size_t want_len[5] = {1, 2, 4, 8, 8};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(rec.recs[i].pc, pc[i]) << i;
    EXPECT_EQ(rec.recs[i].len, want_len[i]) << i;
    EXPECT_EQ(rec.u64_old(std::size_t(i)), want_old[i] & (want_len[i] == 8 ? ~0ull : (1ull << 8 * want_len[i]) - 1)) << i;
    EXPECT_EQ(rec.u64_new(std::size_t(i)), want_new[i]) << i;
    EXPECT_EQ(rec.recs[i].tid, gettid());
    EXPECT_EQ(rec.recs[i].syscall, nullptr);
  }
  EXPECT_EQ(*reinterpret_cast<std::uint64_t*>(p), 0xfffffffffffffffeull);  // the stores landed
  EXPECT_EQ(hits(w.id), 5u);
}

TEST_F(PageEngine, UnwatchedBytesOfAProtectedPageStoreNormallyAndAreNotReported) {
  Pages mem(1);
  Recorder rec;
  Armed w(watch_of(mem.at(64), 8, rec));
  Stats before = stats();
  volatile std::uint64_t* neighbour = reinterpret_cast<volatile std::uint64_t*>(mem.p + 72);
  *neighbour = 42;
  EXPECT_EQ(*neighbour, 42u);
  EXPECT_EQ(rec.count.load(), 0u);
  EXPECT_EQ(stats().unwatched, before.unwatched + 1);
  volatile std::uint64_t v = *reinterpret_cast<volatile std::uint64_t*>(mem.p + 64);  // loads never trap
  (void)v;
  EXPECT_EQ(stats().emulated, before.emulated + 1);
}

TEST_F(PageEngine, StoreStraddlingAWatchEdgeReportsTheWatchedPartOnce) {
  Pages mem(1);
  Recorder rec;
  Armed w(watch_of(mem.at(68), 8, rec));  // [68, 76)
  std::uint64_t v = 0x8877665544332211;
  asm volatile("movq %1, (%0)" : : "r"(mem.p + 64), "r"(v) : "memory");  // [64, 72)
  ASSERT_EQ(rec.count.load(), 1u);
  EXPECT_EQ(rec.recs[0].addr, mem.at(68));
  EXPECT_EQ(rec.recs[0].len, 4u);
  EXPECT_EQ(rec.u64_new(0), 0x88776655u);
}

TEST_F(PageEngine, ModifyReportsOnlyChangesWriteReportsEveryStore) {
  Pages mem(1);
  Recorder wrec, mrec;
  Armed w(watch_of(mem.at(0), 8, wrec, Access::write));
  Armed m(watch_of(mem.at(0), 8, mrec, Access::modify));
  volatile std::uint64_t* x = reinterpret_cast<volatile std::uint64_t*>(mem.p);
  *x = 5;
  *x = 5;
  *x = 6;
  EXPECT_EQ(wrec.count.load(), 3u);
  EXPECT_EQ(mrec.count.load(), 2u);
  EXPECT_EQ(mrec.u64_old(1), 5u);
  EXPECT_EQ(mrec.u64_new(1), 6u);
}

TEST_F(PageEngine, FsRelativeStore) {
  Pages mem(1);
  Recorder rec;
  Armed w(watch_of(mem.at(128), 8, rec));
  std::uintptr_t fs_base = reinterpret_cast<std::uintptr_t>(__builtin_thread_pointer());
  std::uintptr_t off = mem.at(128) - fs_base;
  asm volatile("movq %1, %%fs:(%0)" : : "r"(off), "r"(0xabcdefull) : "memory");
  ASSERT_EQ(rec.count.load(), 1u);
  EXPECT_EQ(rec.u64_new(0), 0xabcdefu);
  EXPECT_EQ(*reinterpret_cast<std::uint64_t*>(mem.p + 128), 0xabcdefu);
}

TEST_F(PageEngine, RipRelativeStoreToAWatchedGlobal) {
  static std::uint64_t global_pad[1024] __attribute__((aligned(4096)));
  Recorder rec;
  Armed w(watch_of(reinterpret_cast<std::uintptr_t>(&global_pad[3]), 8, rec));
  asm volatile("movq $77, %c0(%%rip)" : : "i"(&global_pad[3]) : "memory");
  ASSERT_EQ(rec.count.load(), 1u);
  EXPECT_EQ(global_pad[3], 77u);
}

TEST_F(PageEngine, SseAndAvxStoresCarryTheVectorBytes) {
  Pages mem(1);
  Recorder rec;
  Armed w(watch_of(mem.at(256), 32, rec));
  alignas(32) std::uint8_t src[32];
  for (int i = 0; i < 32; ++i) src[i] = std::uint8_t(i + 1);
  asm volatile("movdqu (%1), %%xmm3\n movups %%xmm3, (%0)" : : "r"(mem.p + 256), "r"(src) : "xmm3", "memory");
  ASSERT_EQ(rec.count.load(), 1u);
  EXPECT_EQ(rec.recs[0].len, 16u);
  EXPECT_EQ(std::memcmp(rec.recs[0].new_bytes, src, 16), 0);
  asm volatile("movq (%1), %%xmm5\n movq %%xmm5, 16(%0)" : : "r"(mem.p + 256), "r"(src + 8) : "xmm5", "memory");
  ASSERT_EQ(rec.count.load(), 2u);
  EXPECT_EQ(std::memcmp(rec.recs[1].new_bytes, src + 8, 8), 0);
  if (__builtin_cpu_supports("avx")) {
    asm volatile("vmovdqu (%1), %%ymm2\n vmovdqu %%ymm2, (%0)\n vzeroupper" : : "r"(mem.p + 256), "r"(src) : "xmm2", "memory");
    ASSERT_EQ(rec.count.load(), 3u);
    EXPECT_EQ(rec.recs[2].len, 32u);
    EXPECT_EQ(std::memcmp(rec.recs[2].new_bytes, src, 32), 0);
  }
  EXPECT_EQ(std::memcmp(mem.p + 256, src, 16), 0);
}

TEST_F(PageEngine, RepStosAndRepMovsAsMemsetAndMemcpy) {
  Pages mem(4);
  Recorder rec;
  Armed w(watch_of(mem.at(4096), 8192, rec));
  std::uint8_t* dst = mem.p + 4096 + 100;
  std::size_t n = 5000;
  asm volatile("rep stosb" : "+D"(dst), "+c"(n) : "a"(0x5a) : "memory");
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(dst, mem.p + 4096 + 5100);
  for (int i = 0; i < 5000; ++i) ASSERT_EQ(mem.p[4096 + 100 + i], 0x5a) << i;
  EXPECT_EQ(rec.total_bytes.load(), 5000u);
  std::vector<std::uint8_t> src(3000);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = std::uint8_t(i * 7);
  rec.count = 0;
  rec.total_bytes = 0;
  std::uint8_t* d = mem.p + 4096 + 6000;
  const std::uint8_t* s = src.data();
  n = src.size();
  asm volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
  EXPECT_EQ(std::memcmp(mem.p + 4096 + 6000, src.data(), src.size()), 0);
  EXPECT_EQ(rec.total_bytes.load(), 2192u);  // the watch ends at 8192: 6000..8192
  EXPECT_EQ(mem.p[4096 + 9000], 0);          // untouched beyond the copy
  // Zero count: nothing written, nothing reported.
  rec.count = 0;
  n = 0;
  d = mem.p + 4096;
  asm volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(1) : "memory");
  EXPECT_EQ(rec.count.load(), 0u);
}

TEST_F(PageEngine, DirectionFlagSetCopiesBackwards) {
  Pages mem(1);
  Recorder rec;
  Armed w(watch_of(mem.at(0), 64, rec));
  std::uint64_t src[4] = {1, 2, 3, 4};
  std::uint64_t* d = reinterpret_cast<std::uint64_t*>(mem.p) + 3;
  const std::uint64_t* s = src + 3;
  std::size_t n = 4;
  asm volatile("std\n rep movsq\n cld" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
  EXPECT_EQ(std::memcmp(mem.p, src, 32), 0);
  EXPECT_EQ(d, reinterpret_cast<std::uint64_t*>(mem.p) - 1);
  EXPECT_EQ(rec.total_bytes.load(), 32u);
}

// Stack stores (push, call) to a watched page, on a stack of our own with signals on an
// alternate stack (a thread's own stack cannot be watched: signal frames).
TEST_F(PageEngine, PushAndCallOntoAWatchedStack) {
  Pages mem(2);
  std::vector<std::uint8_t> alt(64 * 1024);
  stack_t ss{}, old{}, now{};
  ss.ss_sp = alt.data();
  ss.ss_size = alt.size();
  ASSERT_EQ(sigaltstack(&ss, &old), 0);
  Recorder rec;
  Armed w(watch_of(mem.at(4096 + 4000), 96, rec));
  std::uintptr_t top = mem.at(4096 + 4096 - 16), ret_addr = 0;
  asm volatile(
      "mov %%rsp, %%r12\n"
      "mov %1, %%rsp\n"
      "push $0x1234\n"          // [top-8]
      "lea 2f(%%rip), %0\n"
      "call 1f\n"               // [top-16] = the return address
      "2: jmp 3f\n"
      "1: ret\n"
      "3: pushfq\n"             // [top-16] again
      "mov %%r12, %%rsp\n"
      : "=&r"(ret_addr)
      : "r"(top)
      : "r12", "memory", "cc");
  ASSERT_EQ(sigaltstack(&old, nullptr), 0) << strerror(errno);
  ASSERT_EQ(sigaltstack(nullptr, &now), 0);
  EXPECT_EQ(now.ss_sp, old.ss_sp);  // the program's own alternate-stack changes hold
  ASSERT_EQ(rec.count.load(), 3u);
  EXPECT_EQ(rec.recs[0].addr, top - 8);
  EXPECT_EQ(rec.u64_new(0), 0x1234u);
  EXPECT_EQ(rec.recs[1].addr, top - 16);
  EXPECT_EQ(rec.u64_new(1), ret_addr);
  EXPECT_EQ(rec.u64_old(2), ret_addr);
  EXPECT_EQ(rec.u64_new(2) & 0x100, 0u);  // pushfq: TF is not set in the program's flags
}

TEST_F(PageEngine, XchgSetccAndBitOps) {
  Pages mem(1);
  Recorder rec;
  Armed w(watch_of(mem.at(0), 16, rec));
  std::uint64_t r = 99;
  *reinterpret_cast<volatile std::uint64_t*>(mem.p) = 7;
  asm volatile("xchg %0, (%1)" : "+r"(r) : "r"(mem.p) : "memory");
  EXPECT_EQ(r, 7u);
  EXPECT_EQ(*reinterpret_cast<std::uint64_t*>(mem.p), 99u);
  asm volatile("cmp %0, %0\n sete 8(%1)" : : "r"(r), "r"(mem.p) : "memory", "cc");
  EXPECT_EQ(mem.p[8], 1);
  std::uint8_t cf = 0;
  asm volatile("lock btsq $5, 8(%1)\n setc %0" : "=r"(cf) : "r"(mem.p) : "memory", "cc");
  EXPECT_EQ(cf, 0);
  EXPECT_EQ(mem.p[8], 0x21);
  asm volatile("btrq $5, 8(%1)\n setc %0" : "=r"(cf) : "r"(mem.p) : "memory", "cc");
  EXPECT_EQ(cf, 1);
  EXPECT_EQ(mem.p[8], 1);
  EXPECT_EQ(rec.count.load(), 5u);  // = 7, xchg, sete, bts, btr
  EXPECT_EQ(rec.u64_old(1), 7u);
  EXPECT_EQ(rec.u64_new(1), 99u);
}

// Read-modify-write instructions are single-stepped displaced: flags come from the real CPU.
TEST_F(PageEngine, DisplacedReadModifyWriteWithFlags) {
  Pages mem(1);
  Recorder rec;
  Armed w(watch_of(mem.at(0), 32, rec));
  Stats before = stats();
  volatile std::uint64_t* x = reinterpret_cast<volatile std::uint64_t*>(mem.p);
  *x = ~0ull;  // emulated
  std::uint8_t carry = 0, zero = 0;
  asm volatile("addq $1, (%2)\n setc %0\n setz %1" : "=r"(carry), "=r"(zero) : "r"(mem.p) : "memory", "cc");
  EXPECT_EQ(*x, 0u);
  EXPECT_EQ(carry, 1);
  EXPECT_EQ(zero, 1);
  std::uint64_t add = 5, old = 0;
  asm volatile("lock xaddq %0, (%1)" : "+r"(add) : "r"(mem.p) : "memory");
  EXPECT_EQ(add, 0u);
  EXPECT_EQ(*x, 5u);
  old = 5;
  std::uint64_t desired = 9;
  asm volatile("lock cmpxchgq %2, (%1)" : "+a"(old) : "r"(mem.p), "r"(desired) : "memory", "cc");
  EXPECT_EQ(*x, 9u);
  asm volatile("negq (%0)\n shlq $2, 8(%0)\n incb 16(%0)" : : "r"(mem.p) : "memory", "cc");
  EXPECT_EQ(*x, std::uint64_t(-9));
  EXPECT_EQ(mem.p[16], 1);
  alignas(16) std::uint64_t expect_pair[2] = {std::uint64_t(-9), 0};
  std::uint64_t lo = expect_pair[0], hi = expect_pair[1], nlo = 111, nhi = 222;
  asm volatile("lock cmpxchg16b (%4)" : "+a"(lo), "+d"(hi) : "b"(nlo), "c"(nhi), "r"(mem.p) : "memory", "cc");
  EXPECT_EQ(x[0], 111u);
  EXPECT_EQ(x[1], 222u);
  Stats after = stats();
  EXPECT_EQ(after.displaced - before.displaced, 7u);  // add xadd cmpxchg neg shl inc cmpxchg16b
  EXPECT_EQ(after.last_resort, before.last_resort);
  ASSERT_EQ(rec.count.load(), 8u);
  EXPECT_EQ(rec.u64_old(1), ~0ull);  // add: old all-ones, new 0
  EXPECT_EQ(rec.u64_new(1), 0u);
  EXPECT_EQ(rec.u64_old(2), 0u);  // xadd
  EXPECT_EQ(rec.u64_new(2), 5u);
}

TEST_F(PageEngine, LongWatchOfManyMebibytes) {
  const std::size_t len = 16u << 20;
  void* raw = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(raw, MAP_FAILED);
  auto* p = static_cast<std::uint8_t*>(raw);
  Recorder rec;
  {
    PageWatchOptions o = watch_of(reinterpret_cast<std::uintptr_t>(p), len, rec);
    Armed w(o);
    std::memset(p, 0x77, len);
    p[len - 1] = 1;
    p[len / 2] = 2;
  }
  EXPECT_EQ(p[0], 0x77);
  EXPECT_EQ(p[len / 2], 2);
  EXPECT_EQ(p[len - 1], 1);
  EXPECT_GE(rec.total_bytes.load(), len);  // every byte reported (glibc's memset may store some twice)
  munmap(raw, len);
}

TEST_F(PageEngine, ManyWatchesEachReportedOnce) {
  Pages mem(4);
  Recorder rec;
  std::vector<std::unique_ptr<Armed>> ws;
  for (int i = 0; i < 1000; ++i) ws.push_back(std::make_unique<Armed>(watch_of(mem.at(std::size_t(i) * 16), 2, rec)));
  std::memset(mem.p, 1, 16000);
  EXPECT_EQ(rec.count.load(), 1000u);
  std::uint64_t total = 0;
  for (auto& w : ws) total += hits(w->id);
  EXPECT_EQ(total, 1000u);
}

// The torture case of issue 15: 8 threads (created after arming) x 100,000 stores into a page
// holding one watched 8-byte field and unwatched neighbours.
struct alignas(4096) TorturePage {
  std::uint64_t neighbours_before[8];
  std::uint64_t watched;
  std::uint64_t neighbours_after[8];
};

TEST_F(PageEngine, TortureEightThreadsExactCountsAndChainedValues) {
  static TorturePage page;
  constexpr int kThreads = 8, kStores = 100000;
  static std::atomic<std::uint64_t> hits_seen{0}, breaks{0};
  static std::uint64_t last_new = 0;  // written under the engine's lock (callbacks are serialized)
  hits_seen = 0;
  breaks = 0;
  page.watched = 0;
  last_new = 0;
  PageWatchOptions o;
  o.addr = reinterpret_cast<std::uintptr_t>(&page.watched);
  o.len = 8;
  o.access = Access::write;
  o.callback = [](const PageHit& h) {
    std::uint64_t oldv = 0, newv = 0;
    std::memcpy(&oldv, h.old_bytes, 8);
    std::memcpy(&newv, h.new_bytes, 8);
    if (oldv != last_new) breaks.fetch_add(1);
    last_new = newv;
    hits_seen.fetch_add(1);
  };
  {
    Armed w(o);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([t] {
        volatile std::uint64_t* field = &page.watched;
        volatile std::uint64_t* mine = t % 2 ? &page.neighbours_after[t] : &page.neighbours_before[t];
        for (int i = 1; i <= kStores; ++i) {
          *field = (std::uint64_t(t) << 32) | std::uint64_t(i);
          *mine = *mine + 1;
        }
      });
    for (auto& th : threads) th.join();
    EXPECT_EQ(hits(w.id), std::uint64_t(kThreads) * kStores);
  }
  EXPECT_EQ(hits_seen.load(), std::uint64_t(kThreads) * kStores);
  EXPECT_EQ(breaks.load(), 0u) << "old bytes of a hit differ from the new bytes of the hit before";
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(t % 2 ? page.neighbours_after[t] : page.neighbours_before[t], std::uint64_t(kStores)) << t;
  EXPECT_EQ(page.watched & 0xffffffff, std::uint64_t(kStores));
}

TEST_F(PageEngine, ForkedChildIsUnharmedAndTheParentStaysWatched) {
  Pages mem(1);
  Recorder rec;
  Armed w(watch_of(mem.at(0), 8, rec));
  volatile std::uint64_t* x = reinterpret_cast<volatile std::uint64_t*>(mem.p);
  pid_t child = fork();
  if (child == 0) {
    *x = 1234;  // the child's copy: writable again, no watch
    _exit(*x == 1234 ? 0 : 3);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(rec.count.load(), 0u);
  *x = 5;
  EXPECT_EQ(rec.count.load(), 1u);
  EXPECT_EQ(*x, 5u);
}

// A raw fork runs no pthread_atfork handler: the child's first store to a watched page faults in
// the engine, which must tell it is in a child (its /proc/self/mem still names the parent's
// memory) and give the page back there instead of landing the store in the parent.
TEST_F(PageEngine, RawForkChildStoresIntoItsOwnCopyNotTheParent) {
  Pages mem(1);
  Recorder rec;
  Armed w(watch_of(mem.at(0), 8, rec));
  volatile std::uint64_t* x = reinterpret_cast<volatile std::uint64_t*>(mem.p);
  *x = 5;
  ASSERT_EQ(rec.count.load(), 1u);
  const long child = syscall(SYS_fork);
  if (child == 0) {
    *x = 1234;
    syscall(SYS_exit_group, *x == 1234 ? 0 : 3);
  }
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(waitpid(static_cast<pid_t>(child), &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(*x, 5u);  // the child's store stayed in the child
  EXPECT_EQ(rec.count.load(), 1u);
  *x = 6;
  EXPECT_EQ(rec.count.load(), 2u);
}

std::atomic<int> g_program_segvs{0};
void* g_program_page = nullptr;
void program_handler(int, siginfo_t* si, void*) {
  g_program_segvs++;
  if (si->si_addr >= g_program_page && si->si_addr < static_cast<char*>(g_program_page) + 4096)
    mprotect(g_program_page, 4096, PROT_READ | PROT_WRITE);
}

TEST_F(PageEngine, TheProgramsOwnSegvReachesItsHandler) {
  Pages watched(1);
  Recorder rec;
  Armed w(watch_of(watched.at(0), 8, rec));
  // The program installs its handler after the engine: the library keeps it as the chained one.
  struct sigaction act {}, old {};
  act.sa_sigaction = program_handler;
  act.sa_flags = SA_SIGINFO;
  ASSERT_EQ(sigaction(SIGSEGV, &act, &old), 0);
  Pages own(1);
  g_program_page = own.p;
  mprotect(own.p, 4096, PROT_READ);
  *reinterpret_cast<volatile int*>(own.p) = 7;  // its own read-only page: its own handler
  EXPECT_EQ(g_program_segvs.load(), 1);
  EXPECT_EQ(*reinterpret_cast<int*>(own.p), 7);
  *reinterpret_cast<volatile int*>(watched.p) = 1;  // ours: not seen by the program
  EXPECT_EQ(g_program_segvs.load(), 1);
  EXPECT_EQ(rec.count.load(), 1u);
  struct sigaction now {};
  sigaction(SIGSEGV, nullptr, &now);
  EXPECT_EQ(now.sa_sigaction, program_handler);  // the program sees its own handler
  sigaction(SIGSEGV, &old, nullptr);
}

TEST_F(PageEngine, RefusalsSayWhatIsWrong) {
  Pages mem(1);
  Recorder rec;
  for (Access a : {Access::read, Access::read_write, Access::exec}) {
    try {
      arm(watch_of(mem.at(0), 8, rec, a));
      FAIL();
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_request);
    }
  }
  int local = 0;
  EXPECT_THROW(arm(watch_of(reinterpret_cast<std::uintptr_t>(&local), 4, rec)), Error);
  void* gone = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  munmap(gone, 4096);
  EXPECT_THROW(arm(watch_of(reinterpret_cast<std::uintptr_t>(gone), 8, rec)), Error);
  EXPECT_EQ(armed_count(), 0u);
}

}  // namespace
}  // namespace hwbp::page::test
