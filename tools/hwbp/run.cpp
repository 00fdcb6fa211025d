// `hwbp run [--watch SPEC]... [options] -- PROGRAM [ARGS]`: start PROGRAM under watch and report
// who writes the watched variables. Exits with PROGRAM's exit status (128 + signal if killed).
#include <cstdio>

#include "command.hpp"
#include "command_line.hpp"
#include "guard.hpp"
#include "session.hpp"

namespace {

using namespace hwbp::cli;

int run_command(const SessionOptions& opts, const std::vector<std::string>& argv) {
  if (argv.empty()) return fail("no program given; usage: hwbp run --watch SPEC -- PROGRAM [ARGS]");
  Session session(opts);             // bad specs / --if fail here, before anything starts
  Tracer::find_program(argv.front());  // PROGRAM not found: fail before forking
  // Stops of the program (ptrace mode, page engine): survive kill -9 of hwbp.
  if (!session.uses_bpf() || session.may_use_page_engine()) continue_behind_guard();
  Tracer tracer = Tracer::launch(argv);
  try {
    session.start(tracer, true, tracer.pid());
  } catch (...) {
    tracer.kill_program();  // stopped at exec: not one instruction of it has run
    throw;
  }
  Tracer::End end;
  try {
    end = tracer.run(session, session.deadline());
  } catch (const std::exception& e) {
    if (!session.program_started()) {
      session.close_events();
      tracer.kill_program();  // still inside the dynamic loader: no code of the program ran
      throw;
    }
    session.stop_watching(tracer);
    tracer.detach(session);
    fail(e.what());
    tracer.wait_exit();
    return 2;
  }
  auto status = session.finish(tracer, end, true);
  if (session.output_failed()) return 2;  // said by finish(); the program ran on to its end
  if (session.at_failed()) return 2;       // said by finish(); the program ran on, unwatched
  if (session.at_never_reached()) return 1;  // said by finish(): nothing was watched
  return status ? exit_code_of(*status) : 0;
}

RegisterCommand reg([](CLI::App& app) {
  auto* sub = app.add_subcommand("run", "run PROGRAM and report who accesses the watched memory");
  auto opts = std::make_shared<SessionOptions>();
  auto argv = std::make_shared<std::vector<std::string>>();
  add_session_options(*sub, *opts);
  add_duration_option(*sub, *opts);
  // Words before "--" that are not options start the program too (`hwbp run -w x prog`); the
  // words after "--" are all the program's (command_line.hpp).
  sub->add_option("program", *argv, "PROGRAM [ARGS] (after --)");
  return [opts, argv] {
    argv->insert(argv->end(), program_words().begin(), program_words().end());
    return run_command(*opts, *argv);
  };
});

}  // namespace
