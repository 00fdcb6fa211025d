// A watch the debug registers do not serve (core::choose_engine decided): page protection for
// stores (page_watch.hpp) or a uprobe for exec (uprobe_watch.hpp). The registry keeps one per
// such watch, under its mutex, and routes enable/disable/retarget/hits to it; the handle, the Hit
// and the acceptance path (acceptance.hpp) are the same as for the debug registers.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>

#include "core/request.hpp"
#include "hwbp/hwbp.hpp"
#include "inprocess/dispatch.hpp"

namespace hwbp::inprocess {

// What a delivery needs of the watch record (owned by the registry, which outlives the
// SoftwareWatch: it destroys the SoftwareWatch — disarming it — before the record).
struct SoftwareListener {
  Subscriber subscriber;            // id, access, callback, enabled, hits: as for a debug register
  const EndCallback* on_end = nullptr;
  pid_t only_tid = 0;               // Target::thread: hits of other threads are not reported
};

class SoftwareWatch {
 public:
  virtual ~SoftwareWatch() = default;
  // Arms or disarms the mechanism (a disabled watch costs the program nothing). Throws
  // hwbp::Error; on failure nothing changed.
  virtual void set_enabled(bool on) = 0;
  // Moves the watch; all or nothing (the new place is armed before the old one is dropped).
  virtual void retarget(const core::WatchRequest& request) = 0;
  virtual std::uint64_t hits() const = 0;
  // Armed now: enabled and its memory still there (for coverage()).
  virtual bool armed() const = 0;
  // steady_clock nanoseconds at which the watch's memory went away, or 0.
  virtual std::int64_t ended_at_ns() const { return 0; }
};

}  // namespace hwbp::inprocess
