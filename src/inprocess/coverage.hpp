// Realises one slot on the threads a watch's target covers (perf/thread_coverage.hpp does the
// work; this maps the public Target onto it).
#pragma once

#include "hwbp/hwbp.hpp"
#include "perf/thread_coverage.hpp"

namespace hwbp::inprocess {

using perf::ThreadEvents;

ThreadEvents open_on_target(const perf::BreakpointAttr& attr, const Target& target,
                            const perf::SlotsHeld& slots_ours);

}  // namespace hwbp::inprocess
