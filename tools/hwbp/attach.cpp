// `hwbp attach -p PID [--watch SPEC]... [--duration SEC]`: watch a running process until Ctrl-C,
// the duration or its exit; then detach, leaving it running with nothing armed.
#include <cstdio>

#include "command.hpp"
#include "guard.hpp"
#include "hwbp/error.hpp"
#include "session.hpp"

namespace {

using namespace hwbp::cli;

int attach_command(const SessionOptions& opts, pid_t pid) {
  Session session(opts);
  // Stops of the program (ptrace mode, page engine): survive kill -9 of hwbp.
  if (!session.uses_bpf() || session.may_use_page_engine()) continue_behind_guard();
  Tracer tracer = Tracer::attach(pid);
  Tracer::End end;
  try {
    // The page engine arms in a stopped thread: one is interrupted for the arming.
    if (!tracer.with_stopped_thread(session, [&](pid_t tid) { session.start(pid, false, tid); }))
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
  return 0;
}

RegisterCommand reg([](CLI::App& app) {
  auto* sub = app.add_subcommand("attach", "watch a running process, then detach from it");
  auto opts = std::make_shared<SessionOptions>();
  auto pid = std::make_shared<pid_t>(0);
  sub->add_option("-p,--pid", *pid, "the process to watch")->required();
  add_session_options(*sub, *opts);
  sub->add_option("--duration", opts->duration, "stop watching after SEC seconds");
  return [opts, pid] { return attach_command(*opts, *pid); };
});

}  // namespace
