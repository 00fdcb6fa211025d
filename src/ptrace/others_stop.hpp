// Every thread of a traced process but one, stopped (PTRACE_INTERRUPT), for work during which
// nothing else of the program may run: the page engine changing protections or making a page
// writable for its last resort (page_transport_state.hpp WorldStop), the int3 engine stepping
// one thread over a breakpoint it lifted for that step.
//
// Stops that are not our interrupt's (a signal, an event that came first) are deferred to the
// tracer through the Tracee (those threads stay stopped until the tracer resumes them);
// interrupted threads are resumed by resume_all() / the destructor with the request the owner
// says (PTRACE_SYSCALL while the page engine needs system-call stops, else PTRACE_CONT).
#pragma once

#include <sys/types.h>

#include <functional>
#include <vector>

#include "ptrace/tracee.hpp"

namespace hwbp::ptrace {

class OthersStop {
 public:
  struct Hooks {
    // Threads stopped already in a stop the tracer has not handled yet: left alone.
    std::function<bool(pid_t)> already_stopped;
    // PTRACE_CONT or PTRACE_SYSCALL for an interrupted thread, at resume time.
    std::function<int(pid_t)> resume_request;
  };
  // Stops the threads of the process and `extra` (e.g. vfork children sharing its memory),
  // except `except`.
  OthersStop(Tracee& tracee, pid_t except, const std::vector<pid_t>& extra, Hooks hooks);
  ~OthersStop();
  OthersStop(const OthersStop&) = delete;
  OthersStop& operator=(const OthersStop&) = delete;

  // Threads that are stopped now (interrupted by us, or in a deferred stop).
  const std::vector<pid_t>& stopped() const noexcept { return stopped_; }
  void resume_all();

 private:
  Tracee& tracee_;
  Hooks hooks_;
  std::vector<pid_t> interrupted_, stopped_;
};

}  // namespace hwbp::ptrace
