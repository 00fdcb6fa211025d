#include "inprocess/uprobe_watch.hpp"

#include <ucontext.h>

#include <cinttypes>
#include <cstdio>
#include <memory>
#include <string>

#include "core/sig_data.hpp"
#include "inprocess/acceptance.hpp"
#include "inprocess/thread_gate.hpp"
#include "perf/threads.hpp"
#include "perf/uprobe.hpp"

namespace hwbp::inprocess {
namespace {

// What the handler needs of one probe; immutable once published.
struct UprobeDispatch {
  std::uint32_t generation = 0;
  std::uintptr_t addr = 0;
  std::size_t len = 1;
  SoftwareListener listener;
};

// Entries are published under the registry mutex and freed after a grace period of the
// dispatch table (the handler enters it before loading an entry).
std::atomic<UprobeDispatch*> g_table[kUprobeCapacity];
std::uint32_t g_next_generation = 1;  // under the registry mutex

int take_free_index() {
  for (int i = 0; i < kUprobeCapacity; ++i)
    if (g_table[i].load(std::memory_order_relaxed) == nullptr) return i;
  throw Error(Errc::no_slots, "hwbp's uprobe table is full (" + std::to_string(kUprobeCapacity) +
                                  " exec watches); remove one");
}

void publish(int index, UprobeDispatch* next) {
  UprobeDispatch* old = g_table[index].exchange(next, std::memory_order_seq_cst);
  if (old != nullptr) {
    dispatch_table().synchronize();
    delete old;
  }
}

std::string hex(std::uintptr_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%" PRIxPTR, v);
  return buf;
}

std::uintptr_t trap_ip(void* uc) noexcept {
  return static_cast<std::uintptr_t>(static_cast<ucontext_t*>(uc)->uc_mcontext.gregs[REG_RIP]);
}

}  // namespace

UprobeWatch::UprobeWatch(const core::WatchRequest& request, const Target& target,
                         const SoftwareListener& listener, bool enabled, bool counting)
    : target_(target), listener_(listener), counting_(counting), enabled_(enabled) {
  probe_ = open_probe(request);
}

UprobeWatch::~UprobeWatch() { close_probe(probe_); }

UprobeWatch::Probe UprobeWatch::open_probe(const core::WatchRequest& request) {
  auto where = perf::file_location(0, request.addr);
  if (!where)
    throw Error(Errc::invalid_request,
                "exec watch at " + hex(request.addr) +
                    ": the address is in no file-backed mapping (anonymous or JIT code), where a uprobe "
                    "cannot be placed; watch it with the debug registers (engine hardware)");
  perf::UprobeAttr a;
  a.where = *where;
  a.addr = request.addr;
  a.disabled = !enabled_;
  Probe p;
  if (!counting_) {
    p.index = take_free_index();
    auto d = std::make_unique<UprobeDispatch>();
    d->generation = g_next_generation++;
    d->addr = request.addr;
    d->len = request.len;
    d->listener = listener_;
    a.sigtrap = true;
    a.remove_on_exec = true;  // the kernel requires it with sigtrap
    a.sig_data = core::encode_sig_data({core::SigDataOwner::library, d->generation,
                                        static_cast<std::uint16_t>(kUprobeSlotBit | p.index)});
    a.sample_period = 1;
    publish(p.index, d.release());  // before the first event can fire
  } else {
    a.sample_period = 0;  // count only
  }
  try {
    if (target_.kind == Target::Kind::thread) {
      p.events = perf::open_uprobe_on_thread(a, target_.tid);
    } else {
      const ThreadCreationPause pause;  // every thread covered exactly once (thread_gate.hpp)
      p.events = perf::open_uprobe_on_process(a, 0);
    }
  } catch (...) {
    close_probe(p);
    throw;
  }
  return p;
}

void UprobeWatch::close_probe(Probe& p) noexcept {
  p.events = perf::ThreadEvents{};  // close(): the kernel removes the probe synchronously
  if (p.index >= 0) publish(p.index, nullptr);
  p.index = -1;
}

void UprobeWatch::set_enabled(bool on) {
  if (on == enabled_) return;
  auto& evs = probe_.events.events;
  for (std::size_t i = 0; i < evs.size(); ++i) {
    const int rc = on ? evs[i].enable() : evs[i].disable();
    if (rc < 0) {
      for (std::size_t j = 0; j < i; ++j) on ? evs[j].disable() : evs[j].enable();
      throw Error(Errc::system, std::string("cannot ") + (on ? "enable" : "disable") +
                                    " the uprobe: error " + std::to_string(-rc), -rc);
    }
  }
  enabled_ = on;
}

void UprobeWatch::retarget(const core::WatchRequest& request) {
  Probe fresh = open_probe(request);  // throws: the old probe stays
  if (counting_) count_base_ += kernel_count();
  close_probe(probe_);
  probe_ = std::move(fresh);
}

std::uint64_t UprobeWatch::kernel_count() const {
  std::int64_t total = 0;
  for (const perf::Event& ev : probe_.events.events) total += std::max<std::int64_t>(ev.count(), 0);
  return static_cast<std::uint64_t>(total);
}

std::uint64_t UprobeWatch::hits() const {
  if (counting_) return count_base_ + kernel_count();
  return listener_.subscriber.hits->load(std::memory_order_relaxed);
}

void deliver_uprobe_trap(std::uint16_t slot, std::uint32_t generation, void* uc) noexcept {
  const int index = slot & ~kUprobeSlotBit;
  if (index >= kUprobeCapacity) return;
  const UprobeDispatch* d = g_table[index].load(std::memory_order_seq_cst);
  if (d == nullptr || d->generation != generation) return;  // outlived its probe
  const pid_t tid = perf::current_tid();
  if (d->listener.only_tid != 0 && tid != d->listener.only_tid) return;
  Hit hit;
  hit.tid = tid;
  hit.addr = d->addr;
  hit.len = d->len;
  hit.ip = trap_ip(uc);  // the probed instruction has run (see the header)
  hit.pc = d->addr;
  hit.context = uc;
  hit.mechanism = Mechanism::uprobe;
  deliver_to_subscribers({&d->listener.subscriber, 1}, hit, AccessValues{});
}

}  // namespace hwbp::inprocess
