// The execute breakpoints hwbp places for itself, not for a watch: the dynamic loader's hook
// (_dl_debug_state: library watches, --pending), the `--at LOCATION` stop that arms watches
// there, and the return address of that frame (its locals' watches end when it returns). Each
// is a uprobe where uprobes open (no slot), else an execute debug register (one of the slots,
// said in the start-up line and in "does not fit" messages), else an int3.
#pragma once

#include <cstdint>

namespace hwbp::cli {

enum class SessionHook : std::uint8_t { loader, at, frame_return };

inline const char* describe(SessionHook h) {
  switch (h) {
    case SessionHook::loader: return "the breakpoint on the dynamic loader that arms watches in libraries";
    case SessionHook::at: return "the --at breakpoint that arms the watches";
    case SessionHook::frame_return: return "the breakpoint on the --at frame's return that ends its locals' watches";
  }
  return "a breakpoint of hwbp";
}

// The same as "slot N is hwbp's own ...", in messages about slots (slot_arming.hpp).
inline const char* own_breakpoint(SessionHook h) {
  switch (h) {
    case SessionHook::loader:
      return "breakpoint on the dynamic loader, which arms watches in libraries loaded later and reads "
             "pointers once they are relocated";
    case SessionHook::at: return "--at breakpoint, which arms the watches";
    case SessionHook::frame_return: return "breakpoint on the --at frame's return, which ends its locals' watches";
  }
  return "breakpoint";
}

}  // namespace hwbp::cli
