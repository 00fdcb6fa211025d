// WorldStop: every other thread of the traced process stopped (page_transport_state.hpp), by
// the shared OthersStop (others_stop.hpp).
#include <sys/ptrace.h>

#include "ptrace/page_transport_state.hpp"

namespace hwbp::ptrace {

WorldStop::WorldStop(PageTransport::State& s, pid_t except)
    : stop_(s.tracee, except, std::vector<pid_t>(s.vfork_children.begin(), s.vfork_children.end()),
            OthersStop::Hooks{nullptr, [&s](pid_t tid) {
                                return s.armed() || s.in_flight.count(tid) ? PTRACE_SYSCALL : PTRACE_CONT;
                              }}) {}

}  // namespace hwbp::ptrace
