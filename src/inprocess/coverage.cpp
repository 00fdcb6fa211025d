#include "inprocess/coverage.hpp"

#include "inprocess/thread_gate.hpp"

namespace hwbp::inprocess {

ThreadEvents open_on_target(const perf::BreakpointAttr& attr, const Target& target,
                            const perf::SlotsHeld& slots_ours) {
  switch (target.kind) {
    case Target::Kind::cpus: return perf::open_on_cpus(attr);
    case Target::Kind::thread: return perf::open_on_thread(attr, target.tid, slots_ours);
    default: {
      const ThreadCreationPause pause;  // every thread covered exactly once (thread_gate.hpp)
      return perf::open_on_process(attr, 0, slots_ours);
    }
  }
}

}  // namespace hwbp::inprocess
