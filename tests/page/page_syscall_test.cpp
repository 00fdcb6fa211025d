// Kernel writes into watched memory and the program's memory management, in-process (syscall
// user dispatch): reported naming the system call, never EFAULT; watches whose memory goes away
// end with an event; the program's own mprotect keeps working.
#include <gtest/gtest.h>

#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

#include "page/engine.hpp"
#include "page/syscall_dispatch.hpp"
#include "page_test_support.hpp"

namespace hwbp::page::test {
namespace {

class PageSyscalls : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = unavailable_reason();
    if (!why.empty()) GTEST_SKIP() << "page engine unavailable: " << why;
    std::uint8_t probe[1];
    Pages p(1);
    Recorder r;
    PageWatchOptions o;
    o.addr = p.at(0);
    o.len = 1;
    o.access = Access::write;
    Armed a(o);  // prepares syscall dispatch
    (void)probe;
    if (*syscall_dispatch_unavailable() != '\0') GTEST_SKIP() << syscall_dispatch_unavailable();
  }
};

PageWatchOptions watch_of(std::uintptr_t addr, std::size_t len, Recorder& rec) {
  PageWatchOptions o;
  o.addr = addr;
  o.len = len;
  o.access = Access::write;
  o.callback = rec.callback();
  return o;
}

TEST_F(PageSyscalls, ReadIntoAWatchedBufferIsAReportedStoreNotEfault) {
  Pages mem(1);
  Recorder rec;
  Armed w(watch_of(mem.at(100), 16, rec));
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(write(fds[1], "hello, watched!", 15), 15);
  ASSERT_EQ(read(fds[0], mem.p + 96, 15), 15) << strerror(errno);
  EXPECT_EQ(std::memcmp(mem.p + 96, "hello, watched!", 15), 0);
  ASSERT_EQ(rec.count.load(), 1u);
  EXPECT_STREQ(rec.recs[0].syscall, "read");
  EXPECT_EQ(rec.recs[0].addr, mem.at(100));
  EXPECT_EQ(rec.recs[0].len, 11u);  // the watched part of the 15 bytes
  EXPECT_EQ(std::memcmp(rec.recs[0].new_bytes, "o, watched!", 11), 0);
  close(fds[0]);
  close(fds[1]);
}

TEST_F(PageSyscalls, RecvReadvAndGetrandom) {
  Pages mem(1);
  Recorder rec;
  Armed w(watch_of(mem.at(0), 4096, rec));
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  ASSERT_EQ(send(sv[0], "abcdef", 6, 0), 6);
  ASSERT_EQ(recv(sv[1], mem.p, 6, 0), 6) << strerror(errno);
  EXPECT_EQ(std::memcmp(mem.p, "abcdef", 6), 0);
  ASSERT_EQ(send(sv[0], "0123456789", 10, 0), 10);
  char other[4];
  iovec iov[2] = {{other, 4}, {mem.p + 100, 6}};
  ASSERT_EQ(readv(sv[1], iov, 2), 10) << strerror(errno);
  EXPECT_EQ(std::memcmp(other, "0123", 4), 0);
  EXPECT_EQ(std::memcmp(mem.p + 100, "456789", 6), 0);
  ASSERT_EQ(getrandom(mem.p + 200, 32, 0), 32) << strerror(errno);
  ASSERT_EQ(rec.count.load(), 3u);
  EXPECT_STREQ(rec.recs[0].syscall, "recvfrom");
  EXPECT_STREQ(rec.recs[1].syscall, "readv");
  EXPECT_EQ(rec.recs[1].len, 6u);
  EXPECT_STREQ(rec.recs[2].syscall, "getrandom");
  EXPECT_EQ(std::memcmp(rec.recs[2].new_bytes, mem.p + 200, 32), 0);
  close(sv[0]);
  close(sv[1]);
}

TEST_F(PageSyscalls, ThreadsCreatedAfterArmingAreCoveredToo) {
  Pages mem(1);
  Recorder rec;
  Armed w(watch_of(mem.at(0), 64, rec));
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(write(fds[1], "xyz", 3), 3);
  long got = -1;
  int err = 0;
  std::thread t([&] {
    got = read(fds[0], mem.p + 8, 3);
    err = errno;
    *reinterpret_cast<volatile std::uint64_t*>(mem.p + 16) = 9;
  });
  t.join();
  EXPECT_EQ(got, 3) << strerror(err);
  EXPECT_EQ(rec.count.load(), 2u);
  EXPECT_STREQ(rec.recs[0].syscall, "read");
  EXPECT_NE(rec.recs[0].tid, gettid());
  close(fds[0]);
  close(fds[1]);
}

TEST_F(PageSyscalls, MunmapEndsTheWatchWithAnEvent) {
  void* raw = mmap(nullptr, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(raw, MAP_FAILED);
  auto* p = static_cast<std::uint8_t*>(raw);
  Recorder rec;
  static std::atomic<int> ends{0};
  static const char* why = nullptr;
  ends = 0;
  PageWatchOptions o = watch_of(reinterpret_cast<std::uintptr_t>(p + 4096), 16, rec);
  o.on_end = [](const PageEnd& e) {
    ends++;
    why = e.syscall;
  };
  Armed w(o);
  ASSERT_EQ(munmap(p + 4096, 4096), 0);
  EXPECT_EQ(ends.load(), 1);
  EXPECT_STREQ(why, "munmap");
  EXPECT_FALSE(alive(w.id));
  // A new mapping at the same place is the program's, not watched.
  void* again = mmap(p + 4096, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  ASSERT_EQ(again, p + 4096);
  p[4096] = 1;
  EXPECT_EQ(rec.count.load(), 0u);
  munmap(raw, 3 * 4096);
}

TEST_F(PageSyscalls, MadviseDontneedAndMremapEndWatches) {
  Pages mem(2);
  Recorder rec;
  static std::atomic<int> ends{0};
  ends = 0;
  PageWatchOptions a = watch_of(mem.at(0), 8, rec), b = watch_of(mem.at(4096), 8, rec);
  a.on_end = b.on_end = [](const PageEnd&) { ends++; };
  Armed wa(a), wb(b);
  ASSERT_EQ(madvise(mem.p, 4096, MADV_DONTNEED), 0);
  EXPECT_EQ(ends.load(), 1);
  void* moved = mremap(mem.p + 4096, 4096, 8192, MREMAP_MAYMOVE);
  ASSERT_NE(moved, MAP_FAILED);
  EXPECT_EQ(ends.load(), 2);
  munmap(moved, 8192);
  mem.size = 4096;  // the second page moved away
}

TEST_F(PageSyscalls, TheProgramsOwnMprotectKeepsWorking) {
  Pages mem(1);
  Recorder rec;
  Armed w(watch_of(mem.at(0), 8, rec));
  ASSERT_EQ(mprotect(mem.p, 4096, PROT_READ | PROT_WRITE | PROT_EXEC), 0);
  *reinterpret_cast<volatile std::uint64_t*>(mem.p) = 3;  // still watched
  EXPECT_EQ(rec.count.load(), 1u);
  EXPECT_EQ(mem.p[0], 3);
}

TEST_F(PageSyscalls, ForkAfterReadStaysHarmless) {
  Pages mem(1);
  Recorder rec;
  Armed w(watch_of(mem.at(0), 32, rec));
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  if (child == 0) {
    // The child: no dispatch, its pages writable again; read(2) into the buffer works.
    if (write(fds[1], "kid", 3) != 3) _exit(2);
    if (read(fds[0], mem.p, 3) != 3) _exit(3);
    _exit(std::memcmp(mem.p, "kid", 3) == 0 ? 0 : 4);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_EQ(write(fds[1], "dad", 3), 3);
  ASSERT_EQ(read(fds[0], mem.p, 3), 3);
  EXPECT_EQ(rec.count.load(), 1u);
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace hwbp::page::test
