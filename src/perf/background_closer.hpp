// Closes perf events on a thread of its own, for events whose close() is slow. Closing a uprobe
// event waits for the kernel's uprobe unregistration to be safe (uprobe_unregister_sync(): an
// RCU-tasks-trace and an SRCU grace period); measured on 6.18 here: about 40 ms per event, serial
// even from several threads. hwbp run/attach open one per thread per probe (uprobe_arming.hpp),
// so a program that creates many threads would wait 40 ms at each thread exit if they were closed
// in the tracer's stop loop. Callers disable an event first (an ioctl: no more counts or
// SIGTRAPs from then on) and hand it over; the destructor closes what is left and joins.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "perf/event.hpp"

namespace hwbp::perf {

class BackgroundCloser {
 public:
  BackgroundCloser() = default;
  BackgroundCloser(const BackgroundCloser&) = delete;
  BackgroundCloser& operator=(const BackgroundCloser&) = delete;
  ~BackgroundCloser();

  // Takes the event; it is closed soon, on the closer's thread (started at the first call).
  void close_later(Event ev);
  // Events handed over and not yet closed.
  std::size_t pending() const;

 private:
  void run();

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Event> queue_;
  std::size_t closing_ = 0;  // taken off the queue, close() in progress
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace hwbp::perf
