// The tests' tracer loop around a PageTransport, written to the transport's integration contract
// (src/ptrace/page_transport.hpp): every stop goes through the transport, every resume through
// transport.resume(), deferred stops first. Test programs call raise(SIGTRAP) at "arm points":
// the test's callback arms watches there, with that thread stopped.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <set>
#include <vector>

#include "ptrace/page_transport.hpp"
#include "support/traced_child.hpp"

namespace hwbp::ptrace::test {

class PageTracer {
 public:
  explicit PageTracer(TracedChild& child);

  PageTransport& transport() { return transport_; }
  const std::vector<PageHit>& hits() const { return hits_; }
  const std::vector<PageEnd>& ends() const { return ends_; }
  std::size_t forks_detached() const { return forks_detached_; }

  // Called at the exec stop (before the program's first instruction) with its thread.
  std::function<void(pid_t tid)> on_start;
  // Called at each arm point (the program's raise(SIGTRAP)) with the stopped thread.
  std::function<void(pid_t tid)> on_arm_point;
  // Called before resuming a thread from a signal-delivery-stop the transport handled (the
  // thread is stopped, in no system call): a place to disarm watches mid-run.
  std::function<void(pid_t tid)> after_handled_signal;
  // Asked before each resume; true: release the transport and detach every thread now (run()
  // then returns -1 and the program runs on, unwatched).
  std::function<bool()> detach_now;
  // Keep the hits' bytes (false: only count them, for the torture test's memory).
  bool keep_hits = true;
  std::uint64_t hit_count() const { return hit_count_; }
  // Called for every hit when set (in addition to recording it).
  std::function<void(const PageHit&)> on_hit;

  // Runs the program to its end; returns its wait status (-1 after a detach).
  int run();

 private:
  void handle(pid_t tid, int status);
  void resume(pid_t tid, int sig);
  void detach_all(pid_t stopped, int sig);

  TracedChild& child_;
  PageTransport transport_;
  std::vector<PageHit> hits_;
  std::vector<PageEnd> ends_;
  std::uint64_t hit_count_ = 0;
  std::set<pid_t> known_;
  std::map<pid_t, int> early_;  // first stops of tasks whose creation event has not come yet
  std::size_t forks_detached_ = 0;
  bool detached_ = false;
};

}  // namespace hwbp::ptrace::test
