#include "guest_delivery.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace hwbp::cli {

std::string mechanism_text(const hwbp::kvm::WatchInfo& info) {
  if (info.engine == hwbp::kvm::Engine::write_trap)
    return fmt::format("write trap ({} guest page{})", info.pages.size(), info.pages.size() == 1 ? "" : "s");
  std::string regs;
  for (int slot : info.slots) regs += fmt::format("{}DR{}", regs.empty() ? "" : ", ", slot);
  return fmt::format("debug register{} {}", info.slots.size() == 1 ? "" : "s", regs);
}

void GuestDelivery::arm() {
  std::vector<core::WatchId> ready = watches_.ready_to_arm();
  std::vector<hwbp::kvm::WatchSpec> specs;
  for (core::WatchId id : ready) {
    const Watch& w = watches_.at(id);
    hwbp::kvm::WatchSpec s;
    s.addr = w.addr;
    s.len = w.len;
    s.access = w.spec.access;
    if (w.spec.access == Access::write || w.spec.access == Access::modify) s.engine = data_engine_;
    specs.push_back(s);
  }
  if (specs.empty()) return;
  const std::vector<hwbp::kvm::WatchId> armed = debugger_.add(specs);
  const auto infos = debugger_.watches();
  for (std::size_t i = 0; i < armed.size(); ++i) {
    ids_.emplace_back(armed[i], ready[i]);
    Watch& w = watches_.at(ready[i]);
    w.state = Watch::State::armed;
    for (const auto& info : infos)
      if (info.id == armed[i]) w.served_by = mechanism_text(info);
  }
}

void GuestDelivery::disarm() {
  for (const auto& [kvm_id, id] : ids_) {
    try {
      debugger_.remove(kvm_id);
    } catch (const Error&) {
    }
  }
  ids_.clear();
}

std::uint64_t GuestDelivery::read_word(unsigned vcpu, std::uint64_t addr) {
  std::uint8_t b[8] = {};
  debugger_.read_guest(vcpu, addr, std::span<std::uint8_t>(b, word_bytes_));
  std::uint64_t v = 0;
  for (unsigned i = 0; i < word_bytes_; ++i) v |= std::uint64_t{b[i]} << (8 * i);
  return v;
}

std::vector<symbols::Frame> GuestDelivery::frames(unsigned vcpu, std::uint64_t pc, bool at_breakpoint,
                                                  std::size_t depth) {
  // The guest's frame-pointer chain ([fp] = caller's fp, [fp + word] = return address), as the
  // example kernel and any -fno-omit-frame-pointer build keep it. At a function's first
  // instruction (`push %ebp`/`push %rbp` not yet run) the return address is on top of the stack.
  std::vector<symbols::Frame> out{{pc, false}};
  const kvm_regs regs = debugger_.registers(vcpu);
  try {
    if (at_breakpoint) {
      std::uint8_t first = 0;
      debugger_.read_guest(vcpu, pc, std::span<std::uint8_t>(&first, 1));
      if (first == 0x55) out.push_back({read_word(vcpu, regs.rsp), true});
    }
    std::uint64_t fp = regs.rbp;
    while (out.size() < depth && fp != 0 && fp % word_bytes_ == 0) {
      const std::uint64_t ret = read_word(vcpu, fp + word_bytes_);
      if (ret == 0) break;
      out.push_back({ret, true});
      const std::uint64_t next = read_word(vcpu, fp);
      if (next <= fp) break;  // stacks grow down: callers' frames are higher
      fp = next;
    }
  } catch (const Error&) {
    // An unmapped or unreadable frame ends the chain.
  }
  return out;
}

HitEvent GuestDelivery::to_hit(const Watch& w, const hwbp::kvm::Event& e) {
  HitEvent hit;
  hit.watch = w.id;
  hit.tid = static_cast<pid_t>(e.vcpu);
  hit.pc = e.pc;
  hit.pc_is = PcIs::after_access;
  if (e.kind == hwbp::kvm::EventKind::data && e.has_values && w.len <= 4096) {
    Bytes now(w.len);
    try {
      debugger_.read_guest(e.vcpu, w.addr, now);
      Bytes before = now;
      // The store's bytes that fall inside the watch; the rest of the watch did not change.
      for (std::uint32_t i = 0; i < e.len && i < e.old_bytes.size(); ++i) {
        const std::uint64_t a = e.addr + i;
        if (a < w.addr || a >= w.addr + w.len) continue;
        before[a - w.addr] = e.old_bytes[i];
        now[a - w.addr] = e.new_bytes[i];
      }
      hit.old_bytes = std::move(before);
      hit.new_bytes = std::move(now);
      hit.old_exact = hit.new_exact = e.values_exact;
    } catch (const Error&) {
    }
  }
  const unsigned vcpu = e.vcpu;
  const std::uint64_t pc = e.pc;
  const bool at_breakpoint = e.kind == hwbp::kvm::EventKind::breakpoint;
  // Unwound now, while the vCPU is stopped (the sink calls it before the guest runs again).
  hit.unwind = [this, vcpu, pc, at_breakpoint](std::size_t depth) { return frames(vcpu, pc, at_breakpoint, depth); };
  return hit;
}

const core::WatchId* GuestDelivery::watch_of(hwbp::kvm::WatchId id) const {
  for (const auto& [kvm_id, watch] : ids_)
    if (kvm_id == id) return &watch;
  return nullptr;
}

void GuestDelivery::count(core::WatchId watch, std::uint64_t pc) {
  if (last_count_ < counts_.size() && counts_[last_count_].watch == watch && counts_[last_count_].pc == pc) {
    ++counts_[last_count_].n;
    return;
  }
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i].watch != watch || counts_[i].pc != pc) continue;
    ++counts_[i].n;
    last_count_ = i;
    return;
  }
  last_count_ = counts_.size();
  counts_.push_back({watch, pc, 1});
}

void GuestDelivery::flush_counts() {
  for (const PcCount& c : counts_) sink_.accept_count(c.watch, c.pc, c.n);
  counts_.clear();
  last_count_ = 0;
}

void GuestDelivery::deliver(std::span<const hwbp::kvm::Event> events) {
  for (const auto& e : events) {
    if (e.kind != hwbp::kvm::EventKind::data && e.kind != hwbp::kvm::EventKind::breakpoint) continue;
    const core::WatchId* watch = watch_of(e.watch);
    if (!watch) continue;
    if (counts_only_) {
      count(*watch, e.pc);
      continue;
    }
    sink_.accept(to_hit(watches_.at(*watch), e));
    if (sink_.done()) return;
  }
}

}  // namespace hwbp::cli
