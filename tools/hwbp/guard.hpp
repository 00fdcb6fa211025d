// The ptrace mode's answer to `kill -9 hwbp`. A tracer that dies while a writer sits in the
// signal-delivery-stop of hwbp's SIGTRAP (or has one queued) makes the kernel deliver that
// SIGTRAP when it detaches the writer, and the program dies of it: hwbp cannot act after its
// own SIGKILL. So in that mode the process the user started becomes a guard that only waits,
// and a forked worker does the tracing. If the guard is killed, the worker gets SIGTERM
// (PR_SET_PDEATHSIG) and detaches cleanly, as on Ctrl-C. Killing the worker itself with SIGKILL
// (`pkill -9 hwbp`) is covered for `run` by the SIGTRAP guard preloaded into the program
// (trap_guard/trap_guard.cpp), not for `attach` (docs/semantics.md says what remains).
#pragma once

namespace hwbp::cli {

// Returns in the worker. The guard forwards SIGINT/SIGTERM/SIGHUP to the worker and exits with
// the worker's exit status (128 + signal if it was killed); it never returns. If fork fails,
// returns unguarded.
void continue_behind_guard();

}  // namespace hwbp::cli
