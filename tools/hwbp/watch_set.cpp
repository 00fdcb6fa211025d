#include "watch_set.hpp"

#include <fmt/format.h>

#include "hwbp/error.hpp"
#include "symbols/line_address.hpp"
#include "symbols/location_evaluator.hpp"
#include "symbols/symbol_error.hpp"

namespace hwbp::cli {
namespace {

bool overlap(std::uint64_t a, std::uint64_t alen, std::uint64_t b, std::uint64_t blen) {
  return a < b + blen && b < a + alen;
}

// A variable watched by name prints typed values when DWARF describes it (and the watch covers
// exactly the variable); the symbol table alone resolved it, so any failure here only means raw.
std::shared_ptr<const symbols::ValueLayout> typed_layout(const symbols::SymbolTable& table,
                                                         const std::string& name, std::size_t len) {
  try {
    auto loc = symbols::LocationEvaluator(table, nullptr).evaluate(name);
    if (loc.layout && loc.layout->size == len) return loc.layout;
  } catch (const std::exception&) {
  }
  return nullptr;
}

// Does the frame's function have a parameter or local called `name` (with an address or not)?
bool names_local(const symbols::ProcessImage& image, const symbols::StoppedFrame& frame, const std::string& name) {
  try {
    return symbols::frame_variable(image, frame, name).has_value();
  } catch (const symbols::SymbolError&) {
    return true;  // it has, but not in memory now: the evaluator says why
  }
}

}  // namespace

WatchSet::WatchSet(std::vector<WatchSpec> specs, core::ArchInfo arch) : arch_(arch) {
  for (auto& s : specs) {
    Watch w;
    w.id = WatchId{static_cast<std::uint32_t>(watches_.size())};
    w.spec = std::move(s);
    watches_.push_back(std::move(w));
  }
}

bool WatchSet::any_pending() const {
  if (deferred_) return false;
  for (const auto& w : watches_)
    if (w.state == Watch::State::pending) return true;
  return false;
}

std::vector<WatchId> WatchSet::ready_to_arm() const {
  std::vector<WatchId> out;
  for (const auto& w : watches_)
    if (w.state == Watch::State::pending && w.resolved()) out.push_back(w.id);
  return out;
}

void WatchSet::resolve(const symbols::SymbolTable& table) {
  if (deferred_) return;
  for (auto& w : watches_)
    if (w.state == Watch::State::pending && w.addr == 0) resolve_one(w, table);
}

void WatchSet::resolve_one(Watch& w, const symbols::SymbolTable& table) {
  const auto& s = w.spec;
  std::size_t len = s.len;
  std::uint64_t addr = s.addr;
  // At an --at stop a plain name may be a parameter or local: the evaluator looks there first.
  const bool local_name = frame_ && s.kind == WatchSpec::Kind::symbol && s.offset == 0 &&
                          names_local(table.image(), *frame_, s.symbol);
  if (s.kind == WatchSpec::Kind::expression || local_name) {
    const pid_t pid = table.image().pid();
    const symbols::ProcessMemory memory(pid);
    const bool readable = pid > 0 && pointers_readable_;
    symbols::ResolvedLocation loc;
    try {
      loc = symbols::LocationEvaluator(table, readable ? &memory : nullptr, frame_).evaluate(s.symbol);
    } catch (const symbols::SymbolError& e) {
      const auto code = e.symbol_code();
      if (code == symbols::SymbolErrc::needs_memory && pid > 0) {
        // Stays pending until the loader has relocated the program (pointers read before hold
        // unrelocated values).
        w.unresolved_reason = fmt::format(
            "'{}' follows a pointer, which is read once the dynamic loader has relocated the "
            "program; a program without one (static) cannot wait for it: use hwbp attach", s.symbol);
        return;
      }
      if (code != symbols::SymbolErrc::not_found) throw;
      w.unresolved_reason = e.what();  // stays pending: a library may define it later
      return;
    }
    addr = loc.address;
    if (len == 0) {
      if (loc.size == 0)
        throw Error(Errc::invalid_request,
                    fmt::format("watch '{}': the size of {} is unknown; give a length, e.g. '{}:8'",
                                s.text, loc.type.empty() ? "'" + s.symbol + "'" : loc.type, s.text));
      len = loc.size;
    }
    w.label = loc.text;
    w.type = loc.type;
    w.pointer_read = loc.read_target;
    w.in_frame = loc.in_frame;
    if (loc.layout && loc.layout->size == len) w.layout = loc.layout;
  } else if (s.kind == WatchSpec::Kind::symbol) {
    std::string name = s.symbol + (s.offset ? fmt::format("+{:#x}", s.offset) : "");
    symbols::ResolvedSymbol sym;
    try {
      sym = table.resolve(name);
    } catch (const symbols::SymbolError& e) {
      if (e.symbol_code() != symbols::SymbolErrc::not_found) throw;
      w.unresolved_reason = e.what();  // stays pending: a library may define it later
      return;
    }
    addr = sym.address;
    if (len == 0) {
      if (sym.size <= s.offset)
        throw Error(Errc::invalid_request,
                    fmt::format("watch '{}': the size of '{}' is unknown; give a length, e.g. "
                                "'{}:8'", s.text, s.symbol, s.text));
      len = sym.size - s.offset;
    }
    w.label = name;
    if (s.offset == 0) w.layout = typed_layout(table, s.symbol, len);
  } else if (s.kind == WatchSpec::Kind::source_line) {
    std::vector<symbols::LineAddress> at;
    try {
      at = symbols::line_addresses(table.image(), s.file, s.line);
    } catch (const symbols::SymbolError& e) {
      if (e.symbol_code() != symbols::SymbolErrc::not_found) throw;
      w.unresolved_reason = e.what();  // stays pending: a library may have the line
      return;
    }
    // Several locations (a line inlined into several callers): the first, as one slot is one
    // address; the label says which line was found (the next line with code, maybe).
    addr = at.front().address;
    w.label = fmt::format("{}:{}", s.file, at.front().line);
  } else {
    w.label = fmt::format("{:#x}", addr);
  }
  core::WatchRequest req{addr, len, s.access};
  w.hw_refusal.clear();
  if (auto bad = core::validate_range(arch_, req)) {
    // Too long for the debug registers: the page engine may still take it (core::choose_engine).
    if (bad->rule != core::Rule::too_large)
      throw Error(Errc::invalid_request, fmt::format("watch '{}': {}", s.text, bad->message));
    w.hw_refusal = fmt::format("watch '{}': {}", s.text, bad->message);
  }
  w.addr = addr;
  w.len = s.access == Access::exec ? 1 : len;
}

void WatchSet::reset_after_exec() {
  const auto now = core::CoverageClock::Clock::now();
  for (auto& w : watches_) {
    w.clock.set_armed(false, now);
    w.clock.set_watched(false, now);
    w.rotating = false;  // re-decided when it is armed again
    w.mechanism.reset();
    bool by_name = w.spec.by_name();
    w.state = by_name ? Watch::State::pending : Watch::State::dropped;
    if (by_name) w.addr = 0, w.len = 0, w.layout.reset();
  }
}

bool WatchSet::overlaps_another(WatchId id) const {
  const Watch& w = at(id);
  if (!w.is_data()) return false;
  for (const auto& o : watches_)
    if (o.id != id && o.is_data() && overlap(w.addr, w.len, o.addr, o.len)) return true;
  return false;
}

bool WatchSet::triggered_by(const Watch& w, const std::vector<symbols::DataAccess>& accesses) const {
  if (!w.is_data()) return false;
  const core::HwType type = core::hw_type_for(arch_, w.spec.access);
  for (const auto& a : accesses) {
    bool triggers = type == core::HwType::write  ? a.write
                    : type == core::HwType::read ? a.read
                                                 : a.read || a.write;
    if (triggers && overlap(w.addr, w.len, a.addr, a.size)) return true;
  }
  return false;
}

}  // namespace hwbp::cli
