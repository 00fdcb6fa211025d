// The example shown in README.md, kept compiling.
#include <hwbp/hwbp.hpp>
#include <hwbp/signal_safe.hpp>

static long balance = 100;

int main() {
  // Every thread of the process, existing and future; 'modify' = writes that change the value.
  hwbp::Watch w = hwbp::watch(balance, hwbp::Access::modify, [](const hwbp::Hit& h) {
    // Runs in the writing thread, in signal context: async-signal-safe code only.
    hwbp::signal_safe::Line().str("tid ").dec(h.tid).str(" wrote ")
        .sdec(h.old_value).str(" -> ").sdec(h.new_value).str(" at ").hex(h.ip).write();
  });
  balance = 0;  // reported: tid 1234 wrote 100 -> 0 at 0x55...
}
