// `hwbp attach -p PID [--watch SPEC]... [--duration SEC]`: watch a running process until Ctrl-C,
// the duration or its exit; then detach, leaving it running with nothing armed.
#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

#include "command.hpp"
#include "guard.hpp"
#include "hwbp/error.hpp"
#include "option_checks.hpp"
#include "session.hpp"

namespace {

using namespace hwbp;
using namespace hwbp::cli;

int attach_command(const SessionOptions& opts, pid_t pid) {
  Session session(opts);
  // ptrace refuses hwbp's own thread group; say so before the guard forks (after it, the
  // process the user named is the guard, not the tracer).
  if (pid == getpid())
    throw Error(Errc::invalid_request, fmt::format("process {} is this hwbp itself; pass the id of "
                                                   "the program to watch", pid));
  // Stops of the program (ptrace mode, page engine): survive kill -9 of hwbp.
  if (!session.uses_bpf() || session.may_use_page_engine()) continue_behind_guard();
  Tracer tracer = Tracer::attach(pid);
  Tracer::End end;
  try {
    // The page engine arms in a stopped thread: one is interrupted for the arming.
    if (!tracer.with_stopped_thread(session, [&](pid_t tid) { session.start(tracer, false, tid); }))
      throw hwbp::Error(hwbp::Errc::no_such_thread,
                        "process " + std::to_string(pid) + " exited or did not stop for arming");
    end = tracer.run(session, session.deadline());
  } catch (...) {
    session.stop_watching(tracer);
    tracer.detach(session);
    throw;
  }
  auto status = session.finish(tracer, end, false);
  if (status) std::fprintf(stderr, "hwbp: process %d exited (status %d)\n", pid, exit_code_of(*status));
  if (session.output_failed() || session.at_failed()) return 2;  // said by finish(); it runs on
  return session.at_never_reached() ? 1 : 0;  // said by finish(): nothing was watched
}

RegisterCommand reg([](CLI::App& app) {
  auto* sub = app.add_subcommand("attach", "watch a running process, then detach from it");
  auto opts = std::make_shared<SessionOptions>();
  auto pid = std::make_shared<pid_t>(0);
  sub->add_option("-p,--pid", *pid, "the process to watch")->required()->check(pid_value());
  add_session_options(*sub, *opts);
  add_duration_option(*sub, *opts);
  return [opts, pid] { return attach_command(*opts, *pid); };
});

}  // namespace
