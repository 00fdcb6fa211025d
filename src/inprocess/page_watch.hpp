// A store watch served by the page-protection engine (src/page/engine.hpp): any length, exact
// old/new bytes, every thread. The engine reports each store that touches the watched bytes in
// the storing thread; this class hands it to the library's one acceptance path.
#pragma once

#include <atomic>
#include <cstdint>

#include "inprocess/software_watch.hpp"

namespace hwbp::page {
struct PageHit;
struct PageEnd;
}  // namespace hwbp::page

namespace hwbp::inprocess {

class PageWatch final : public SoftwareWatch {
 public:
  // Arms now if `enabled`. Throws hwbp::Error (memory not mapped, stack memory, ...).
  PageWatch(const core::WatchRequest& request, const SoftwareListener& listener, bool enabled);
  ~PageWatch() override;
  PageWatch(const PageWatch&) = delete;
  PageWatch& operator=(const PageWatch&) = delete;

  void set_enabled(bool on) override;
  void retarget(const core::WatchRequest& request) override;
  std::uint64_t hits() const override;
  bool armed() const override;
  std::int64_t ended_at_ns() const override { return ended_ns_.load(std::memory_order_acquire); }

 private:
  std::uint64_t arm_at(const core::WatchRequest& request);
  void on_hit(const page::PageHit& hit) noexcept;
  void on_end(const page::PageEnd& end) noexcept;

  core::WatchRequest request_;
  SoftwareListener listener_;
  std::uint64_t page_id_ = 0;  // the engine's watch; 0 while disabled
  std::atomic<std::int64_t> ended_ns_{0};
};

}  // namespace hwbp::inprocess
