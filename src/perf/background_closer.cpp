#include "perf/background_closer.hpp"

#include <utility>

namespace hwbp::perf {

BackgroundCloser::~BackgroundCloser() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  queue_.clear();  // never started: closed here
}

void BackgroundCloser::close_later(Event ev) {
  if (!ev.valid()) return;
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(std::move(ev));
  // Started on first use, not in the constructor: the tracer forks the program after building
  // some of its parts, and a fork copies only the forking thread.
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
  wake_.notify_one();
}

std::size_t BackgroundCloser::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size() + closing_;
}

void BackgroundCloser::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ and nothing left
    Event ev = std::move(queue_.front());
    queue_.pop_front();
    ++closing_;
    lock.unlock();
    ev = Event{};  // close(): the slow part, outside the lock
    lock.lock();
    --closing_;
  }
}

}  // namespace hwbp::perf
