// Backtraces. Three cases:
//  - backtrace_self(): the calling thread, with glibc's backtrace() (libgcc's .eh_frame unwinder;
//    no extra dependency). Safe to call from a signal handler only after a first call outside it
//    (the first call may load libgcc_s, which allocates).
//  - backtrace_thread(): a thread of *another* process, with libdwfl (ptrace-attaches the thread
//    while it unwinds, or uses the caller's ptrace stop).
//  - backtrace_snapshot() (snapshot_unwinder.hpp): from registers and a copy of the top of the
//    stack captured earlier (by BPF at a breakpoint hit), with libdwfl, without touching the
//    thread. A ProcessImage serves either backtrace_thread or backtrace_snapshot, not both.
// Not done: unwinding from a signal ucontext (the SIGTRAP handler's interrupted frame); the
// handler can use backtrace_self(), whose frames include the interrupted code after the signal
// trampoline (or fill a StackSnapshot from the ucontext). Snapshots are x86-64 only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "symbols/process_image.hpp"

namespace hwbp::symbols {

struct Frame {
  std::uint64_t pc = 0;
  // A return address points after the call; symbolize pc - 1 to land in the calling line.
  bool is_return_address = true;
  std::uint64_t lookup_address() const { return is_return_address && pc ? pc - 1 : pc; }
};

// Frames of the calling thread, innermost first, starting with the caller of backtrace_self.
std::vector<Frame> backtrace_self(std::size_t max_frames = 64);

// libdwfl's frames of thread tid, whatever thread state the image's Dwfl has attached (live
// or snapshot); `what` names the thread in the error. Shared by the two backtraces.
std::vector<Frame> collect_frames(ProcessImage& image, pid_t tid, std::size_t max_frames,
                                  const std::string& what);

// Frames of thread tid of the image's process, innermost first. Throws SymbolError.
std::vector<Frame> backtrace_thread(ProcessImage& image, pid_t tid, bool assume_ptrace_stopped,
                                    std::size_t max_frames = 64);

}  // namespace hwbp::symbols
