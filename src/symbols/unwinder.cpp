#include "symbols/unwinder.hpp"

#include <elfutils/libdwfl.h>
#include <execinfo.h>

#include "symbols/symbol_error.hpp"

namespace hwbp::symbols {

// noinline so that __builtin_return_address(0) is our caller's code. We skip frames up to that
// return address rather than a fixed count: under ASan, backtrace() is intercepted and the
// interceptor's own frames differ.
__attribute__((noinline)) std::vector<Frame> backtrace_self(std::size_t max_frames) {
  void* caller = __builtin_return_address(0);
  std::vector<void*> pcs(max_frames + 8);
  int n = ::backtrace(pcs.data(), static_cast<int>(pcs.size()));
  int first = 0;
  while (first < n && pcs[first] != caller) ++first;
  if (first == n) first = 0;  // not found (unusual unwinder): keep everything
  std::vector<Frame> out;
  for (int i = first; i < n && out.size() < max_frames; ++i)
    out.push_back({reinterpret_cast<std::uint64_t>(pcs[i]), true});
  return out;
}

namespace {

struct FrameSink {
  std::vector<Frame>* out;
  std::size_t max;
};

int on_frame(Dwfl_Frame* state, void* arg) {
  auto* sink = static_cast<FrameSink*>(arg);
  Dwarf_Addr pc = 0;
  bool activation = false;
  if (!dwfl_frame_pc(state, &pc, &activation)) return DWARF_CB_ABORT;
  // The innermost frame (and a frame interrupted by a signal) is an "activation": its pc is the
  // next instruction to run, not a return address.
  sink->out->push_back({pc, !activation});
  return sink->out->size() < sink->max ? DWARF_CB_OK : DWARF_CB_ABORT;
}

}  // namespace

std::vector<Frame> collect_frames(ProcessImage& image, pid_t tid, std::size_t max_frames,
                                  const std::string& what) {
  std::vector<Frame> out;
  FrameSink sink{&out, max_frames};
  int rc = dwfl_getthread_frames(image.dwfl(), tid, on_frame, &sink);
  // libdwfl reports the end of the chain (no more CFI, the end of a stack copy) as an error:
  // frames found count, and only a failure before the first frame is one.
  if (rc == -1 && out.empty())
    throw SymbolError(SymbolErrc::backend, "cannot unwind " + what + ": " + dwfl_error_text());
  return out;
}

std::vector<Frame> backtrace_thread(ProcessImage& image, pid_t tid, bool assume_ptrace_stopped,
                                    std::size_t max_frames) {
  image.attach_for_unwinding(assume_ptrace_stopped);
  return collect_frames(image, tid, max_frames, "thread " + std::to_string(tid));
}

}  // namespace hwbp::symbols
