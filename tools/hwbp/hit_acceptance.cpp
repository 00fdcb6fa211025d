#include "hit_acceptance.hpp"

#include <fmt/format.h>

#include <fstream>

#include "core/value_filter.hpp"

namespace hwbp::cli {

std::uint64_t as_integer(const Bytes& b) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < b.size() && i < 8; ++i) v |= std::uint64_t{b[i]} << (8 * i);
  return v;
}

namespace {

std::optional<std::span<const std::uint8_t>> view(const std::optional<Bytes>& b) {
  if (!b) return std::nullopt;
  return std::span<const std::uint8_t>(*b);
}

}  // namespace

bool HitAcceptor::passes_filters(const Watch& w, const HitEvent& hit) {
  // A value that is not exact is unknown to the filters: the hit is never dropped on a guess
  // (core/value_filter.hpp), it is reported with the value marked.
  const auto old_view = hit.old_exact ? view(hit.old_bytes) : std::nullopt;
  const auto new_view = hit.new_exact ? view(hit.new_bytes) : std::nullopt;
  if (!hit.value_filtered &&
      !core::passes_value_filter(w.spec.access, core::compare_values(old_view, new_view)))
    return false;
  if (!opts_.condition.empty()) {
    if (!hit.new_bytes || !hit.old_bytes) return false;  // cannot evaluate without both values
    if (!hit.old_exact || !hit.new_exact) return true;   // evaluated on a guess: never dropped
    if (!opts_.condition.eval(as_integer(*hit.old_bytes), as_integer(*hit.new_bytes),
                              static_cast<unsigned>(w.len)))
      return false;
  }
  if (ignored_ < opts_.ignore) {
    ++ignored_;
    return false;
  }
  return true;
}

void HitAcceptor::accept(HitEvent hit) {
  if (done_ || !watches_.contains(hit.watch)) return;
  if (only_thread_ && hit.tid != only_thread_) return;  // --thread: another thread's access
  Watch& w = watches_.at(hit.watch);
  if (!passes_filters(w, hit)) return;
  ++w.hits;
  ++total_;
  report(w, hit);
  if (opts_.max_hits && total_ >= opts_.max_hits) done_ = true;
}

void HitAcceptor::accept_count(core::WatchId watch, std::uint64_t pc, std::uint64_t n) {
  if (!watches_.contains(watch)) return;
  Watch& w = watches_.at(watch);
  HitRecord h;
  h.watch = &w;
  h.ip = pc;
  h.site = symbolizer_.access_site(pc, w.spec.access == Access::exec, &h.instruction);
  reporter_.count(h, n);
  w.hits += n;
  total_ += n;
}

void HitAcceptor::counts_not_exact(core::WatchId watch, std::uint64_t n) {
  if (watches_.contains(watch)) reporter_.counts_not_exact(watches_.at(watch), n);
}

// A store of the same value into a struct or array changes no byte: the member it wrote is named
// from the instruction's operand, where that needs no register (rip-relative: globals).
std::optional<std::uint64_t> HitAcceptor::store_offset(const Watch& w, std::uint64_t pc, bool pc_is_access) {
  const std::optional<std::uint64_t> operand = symbolizer_.memory_operand(pc, pc_is_access);
  if (!operand) return std::nullopt;
  const std::uint64_t a = *operand;
  if (a < w.addr || a >= w.addr + w.len) return std::nullopt;
  return a - w.addr;
}

const std::string& HitAcceptor::thread_name(pid_t tid) {
  // /proc/PID/task/TID/comm costs an open per hit: cached (a rename mid-run shows late).
  auto [it, fresh] = thread_names_.try_emplace(tid);
  if (fresh && namer_) {
    it->second = namer_(tid);
  } else if (fresh) {
    std::ifstream in(fmt::format("/proc/{}/task/{}/comm", pid_, tid));
    std::getline(in, it->second);
    if (it->second.empty()) it->second = "?";
  }
  return it->second;
}

void HitAcceptor::report(const Watch& w, HitEvent& hit) {
  HitRecord h;
  h.watch = &w;
  h.seq = total_;
  h.tid = hit.tid;
  h.thread_name = thread_name(hit.tid);
  h.ip = hit.pc;
  h.async = hit.async;
  h.made_by = std::move(hit.made_by);
  const bool exec = w.spec.access == Access::exec;
  h.site = !exec && hit.pc_is == PcIs::the_access ? symbolizer_.instruction_site(hit.pc, &h.instruction)
                                                  : symbolizer_.access_site(hit.pc, exec, &h.instruction);
  h.stack = symbolizer_.stack(hit.unwind, h.site, opts_.stack_depth);
  h.old_bytes = std::move(hit.old_bytes);
  h.new_bytes = std::move(hit.new_bytes);
  if (w.layout && !w.layout->is_leaf() && h.old_bytes == h.new_bytes && !exec)
    h.store_offset = store_offset(w, hit.pc, hit.pc_is == PcIs::the_access);
  h.old_exact = hit.old_exact || !h.old_bytes;  // an unknown value is shown as unknown, not as inexact
  h.new_exact = hit.new_exact || !h.new_bytes;
  h.near_lost = hit.near_lost && !(h.old_exact && h.new_exact);
  reporter_.hit(h);
}

}  // namespace hwbp::cli
