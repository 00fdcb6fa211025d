#include "hit_report.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "symbols/address_name.hpp"
#include "symbols/instruction_decoder.hpp"
#include "symbols/module_file_code.hpp"
#include "symbols/process_memory.hpp"
#include "symbols/unwinder.hpp"

namespace hwbp::cli {
namespace {

// Members of a struct or array one hit prints at most (a memset of a big struct writes them all).
constexpr std::size_t kMaxMembersShown = 8;

// The longest x86 instruction (Intel SDM vol. 2, 2.3.11 "AVX Instruction Length").
constexpr std::size_t kMaxInstructionBytes = 15;

std::uint64_t to_integer(const std::vector<std::uint8_t>& bytes) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < bytes.size() && i < 8; ++i) v |= std::uint64_t{bytes[i]} << (8 * i);
  return v;
}

// Little-endian value as one hex number (most significant digit first), any length.
std::string hex_digits(const std::vector<std::uint8_t>& bytes) {
  std::string s = "0x";
  for (auto it = bytes.rbegin(); it != bytes.rend(); ++it) s += fmt::format("{:02x}", *it);
  return s;
}

std::string value_text(const std::optional<std::vector<std::uint8_t>>& bytes) {
  if (!bytes || bytes->empty()) return "unknown";
  if (bytes->size() > 8) {
    std::string s;
    for (auto b : *bytes) s += fmt::format("{}{:02x}", s.empty() ? "" : " ", b);
    return "[" + s + "]";
  }
  std::uint64_t v = to_integer(*bytes);
  unsigned bits = static_cast<unsigned>(bytes->size() * 8);
  std::string text = fmt::format("{} ({}", hex_digits(*bytes), v);
  if (v >> (bits - 1)) {  // top bit set: show the signed reading too
    std::int64_t s = bits == 64 ? static_cast<std::int64_t>(v)
                                : static_cast<std::int64_t>(v) - (std::int64_t{1} << bits);
    text += fmt::format(" = {}", s);
  }
  return text + ")";
}

std::string where(const Site& s) {
  std::string func = s.func.empty() ? fmt::format("{:#x}", s.addr) : s.func;
  if (s.inlined) func += " (inlined)";
  if (!s.file.empty() && s.line > 0) return fmt::format("{} at {}:{}", func, s.file, s.line);
  if (!s.module.empty()) return fmt::format("{} in {}", func, s.module);
  return func;
}

const char* access_name(Access a) {
  switch (a) {
    case Access::modify: return "modify";
    case Access::write: return "w";
    case Access::read_write: return "rw";
    case Access::read: return "r";
    case Access::exec: return "x";
  }
  return "?";
}

nlohmann::ordered_json hex_or_null(std::uint64_t v) {
  return v ? nlohmann::ordered_json(fmt::format("{:#x}", v)) : nlohmann::ordered_json(nullptr);
}

nlohmann::ordered_json site_json(const Site& s, nlohmann::ordered_json& out) {
  out["func"] = s.func.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s.func);
  out["file"] = s.file.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s.file);
  out["line"] = s.line > 0 ? nlohmann::ordered_json(s.line) : nlohmann::ordered_json(nullptr);
  return out;
}

}  // namespace

// ---- Symbolizer ----

void Symbolizer::set_image(std::shared_ptr<symbols::ProcessImage> image) {
  image_ = std::move(image);
  locator_ = std::make_unique<symbols::SourceLocator>(image_);
  finder_ = std::make_unique<symbols::InstructionFinder>(image_);
  sites_.clear();
  accesses_.clear();
  pointer_targets_.clear();
  gone_ = false;
}

void Symbolizer::address_space_gone() {
  gone_ = true;
  finder_->read_module_files();
}

namespace {

// One physical frame as the frames a reader expects (perf, eu-stack -i, GDB): the line table
// gives the innermost inlined function's line, each inlined call site is a line of the function
// it was inlined into, and the last call site a line of the outer (ELF symbol) function.
std::vector<Site> expand_inlined(std::uint64_t addr, const symbols::SourceLocation& loc) {
  std::vector<Site> out;
  std::string file = loc.file;
  int line = loc.line;
  for (const auto& call : loc.inlined) {
    out.push_back({addr, call.function, file, line, loc.module, true});
    file = call.call_file;
    line = call.call_line;
  }
  out.push_back({addr, loc.function, file, line, loc.module, false});
  return out;
}

}  // namespace

const std::vector<Site>& Symbolizer::frames_at(std::uint64_t addr) {
  if (auto it = sites_.find(addr); it != sites_.end()) return it->second;
  // An address in no known module: a library was loaded since the image was read (dlopen, or
  // every library when the image was opened at the exec stop). Re-read the maps once.
  if (!gone_ && !image_->module_at(addr).handle) {
    try {
      image_->refresh();
    } catch (const std::exception&) {
    }
  }
  std::vector<Site> frames{Site{addr, "", "", 0, ""}};
  if (auto loc = locator_->locate(addr)) frames = expand_inlined(addr, *loc);
  return sites_[addr] = std::move(frames);
}

Site Symbolizer::access_site(std::uint64_t trap_ip, bool exec, std::string* instruction) {
  if (exec) {
    *instruction = "";
    return locate(trap_ip);
  }
  if (auto it = accesses_.find(trap_ip); it != accesses_.end()) {
    *instruction = it->second.text;
    return it->second.site;
  }
  locate(trap_ip);  // refreshes the module list if needed, before decoding
  auto found = finder_->find_before(trap_ip);
  Site site;
  if (found.known()) {
    site = locate(found.instruction->address);
    *instruction = found.text();
  } else {
    // Unknown start: IP - 1 still lies in the accessing instruction, good enough for the line.
    site = locate(trap_ip - 1);
    *instruction = "unknown (" + found.unknown_reason + ")";
  }
  accesses_[trap_ip] = {site, *instruction, found.instruction};
  return site;
}

Site Symbolizer::instruction_site(std::uint64_t pc, std::string* instruction) {
  Site site = locate(pc);
  *instruction = "unknown";
  try {
    const std::vector<std::uint8_t> code = symbols::read_code(*image_, pc, kMaxInstructionBytes, gone_);
    if (auto insn = symbols::decode_instruction(code, pc)) *instruction = insn->text;
  } catch (const std::exception&) {
  }
  return site;
}

const symbols::DecodedInstruction* Symbolizer::accessing_instruction(std::uint64_t trap_ip) {
  std::string text;
  access_site(trap_ip, false, &text);
  const auto& insn = accesses_.at(trap_ip).instruction;
  return insn ? &*insn : nullptr;
}

std::optional<std::uint64_t> Symbolizer::memory_operand(std::uint64_t pc, bool pc_is_access) {
  if (!pc_is_access) {
    const symbols::DecodedInstruction* insn = accessing_instruction(pc);
    return insn ? insn->memory_address : std::nullopt;
  }
  try {
    const std::vector<std::uint8_t> code = symbols::read_code(*image_, pc, kMaxInstructionBytes, gone_);
    if (auto insn = symbols::decode_instruction(code, pc)) return insn->memory_address;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

std::string Symbolizer::pointer_target(std::uint64_t addr) {
  if (!image_) return "";
  if (auto it = pointer_targets_.find(addr); it != pointer_targets_.end()) return it->second;
  if (pointer_targets_.size() > 4096) pointer_targets_.clear();  // a bound, not an LRU: rare
  return pointer_targets_[addr] = symbols::address_name(*image_, addr);
}

std::vector<Site> Symbolizer::stack(const Unwind& unwind, const Site& top, std::size_t depth) {
  std::vector<Site> out{top};
  if (depth <= 1) return out;
  std::vector<symbols::Frame> frames;
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      frames = unwind(depth);
    } catch (const std::exception&) {
      return out;
    }
    // libdwfl stops at a frame in a module it does not know (libraries loaded after the image
    // was read): re-read the maps once and unwind again.
    if (attempt > 0 || frames.size() >= depth || frames.empty()) break;
    std::uint64_t last = frames.back().lookup_address();
    if (gone_ || image_->module_at(last).handle || !unknown_pcs_.insert(last).second) break;
    try {
      image_->refresh();
    } catch (const std::exception&) {
      break;
    }
  }
  // Each physical frame becomes its inline chain (virtual frames sharing its pc); the depth
  // limit counts printed frames. Frame 0 is `top`: only the functions it was inlined into are
  // added after it.
  auto push = [&](const std::vector<Site>& chain, std::size_t from, std::uint64_t pc) {
    for (std::size_t k = from; k < chain.size() && out.size() < depth; ++k) {
      out.push_back(chain[k]);
      out.back().addr = pc;
    }
  };
  push(frames_at(top.addr), 1, top.addr);
  for (std::size_t i = 1; i < frames.size() && out.size() < depth; ++i)
    push(frames_at(frames[i].lookup_address()), 0, frames[i].pc);
  return out;
}

// ---- Reporter ----

void Reporter::count(const HitRecord& h, std::uint64_t n) {
  counts_[{h.watch->spec.text, h.site.func, h.site.file, h.site.line}] += n;
}

void Reporter::counts_not_exact(const Watch& w, std::uint64_t n) {
  inexact_[w.id] += n;
  inexact_total_ += n;
}

void Reporter::hit(const HitRecord& h) {
  if (!h.old_exact || !h.new_exact) {
    ++inexact_[h.watch->id];
    ++inexact_total_;
  }
  switch (format_) {
    case Format::human: human(h); break;
    case Format::json: json(h); break;
    case Format::count:
      count(h, 1);
      break;
    case Format::folded: {
      std::string key;
      for (auto it = h.stack.rbegin(); it != h.stack.rend(); ++it) {
        if (!key.empty()) key += ';';
        key += it->func.empty() ? fmt::format("{:#x}", it->addr) : it->func;
      }
      ++folded_[key];
      break;
    }
  }
}

void Reporter::human(const HitRecord& h) {
  const Watch& w = *h.watch;
  Access a = w.spec.access;
  std::string out = fmt::format("hit #{}: {} [{}] {} byte{} at {:#x}, thread {} ({})\n", h.seq,
                                w.spec.text, access_name(a), w.len, w.len == 1 ? "" : "s", w.addr,
                                h.tid, h.thread_name);
  if (a == Access::read)
    out += "  read (emulated on x86: an rw hit that left the value unchanged)\n";
  // A value that is not exact is marked where it is shown (docs/semantics.md, "Racing writers").
  auto shown = [](const std::optional<std::vector<std::uint8_t>>& b, bool exact) {
    return exact ? value_text(b) : value_text(b) + " [not exact]";
  };
  if (a != Access::exec && a != Access::read)
    out += fmt::format("  old {} -> new {}\n", shown(h.old_bytes, h.old_exact), shown(h.new_bytes, h.new_exact));
  else if (a == Access::read)
    out += fmt::format("  value {}\n", shown(h.new_bytes, h.new_exact));
  // Typed lines only for exact values: a typed "3 -> 4" would present a raced value as certain
  // (the raw line above carries the [not exact] mark and the note below says why).
  const bool exact = h.old_exact && h.new_exact;
  if (w.layout && a != Access::exec && exact) out += typed_lines(h);
  if (h.near_lost && !exact)
    out += "  note: a store to these bytes whose hit never reached hwbp (lost, see the summary) lies next to "
           "this one; the value marked [not exact] may miss it\n";
  else if (!exact)
    out += "  note: other threads wrote these bytes at the same time; the order of their stores does not "
           "determine the value marked [not exact]\n";
  out += fmt::format("  in {}\n", where(h.site));
  if (a != Access::exec)
    out += fmt::format("  instruction {:#x}: {}\n", h.site.addr, h.instruction);
  if (!h.made_by.empty())
    out += fmt::format("  made by the kernel, for the program's {}() system call\n", h.made_by);
  if (w.mechanism && core::is_software(*w.mechanism))
    out += fmt::format("  engine: {}\n", core::to_string(*w.mechanism));
  if (h.async)
    out += "  note: SIGTRAP was blocked in the program; the thread stopped later than the access\n";
  if (show_stack_ && h.stack.size() > 1) {
    out += "  stack:\n";
    for (std::size_t i = 0; i < h.stack.size(); ++i)
      out += fmt::format("    #{} {:#x} {}\n", i, h.stack[i].addr, where(h.stack[i]));
  }
  std::fputs(out.c_str(), out_);
  flush();
}

void Reporter::json(const HitRecord& h) {
  using J = nlohmann::ordered_json;
  const Watch& w = *h.watch;
  J j;
  j["event"] = "hit";
  j["seq"] = h.seq;
  j["watch"] = w.spec.text;
  j["tid"] = h.tid;
  j["thread"] = h.thread_name;
  j["addr"] = fmt::format("{:#x}", w.addr);
  j["len"] = w.len;
  j["access"] = access_name(w.spec.access);
  j["ip"] = fmt::format("{:#x}", h.ip);
  j["insn_addr"] = hex_or_null(w.spec.access == Access::exec ? 0 : h.site.addr);
  j["instruction"] = h.instruction.empty() ? J(nullptr) : J(h.instruction);
  site_json(h.site, j);
  auto value = [](const std::optional<std::vector<std::uint8_t>>& b) {
    return b && !b->empty() ? J(hex_digits(*b)) : J(nullptr);
  };
  bool has_values = w.spec.access != Access::exec;
  j["old"] = has_values && w.spec.access != Access::read ? value(h.old_bytes) : J(nullptr);
  j["new"] = has_values ? value(h.new_bytes) : J(nullptr);
  if (w.layout && has_values && h.old_exact && h.new_exact) typed_json(h, j);  // see human()
  j["async"] = h.async;
  // Issue 17: false when a value shown is not known exactly (racing writers); which one then.
  j["exact"] = !has_values || (h.old_exact && h.new_exact);
  if (has_values && !(h.old_exact && h.new_exact)) {
    j["old_exact"] = h.old_exact;
    j["new_exact"] = h.new_exact;
    j["not_exact_why"] = h.near_lost ? "lost hit" : "race";  // docs/semantics.md, "Racing writers"
  }
  if (!h.made_by.empty()) j["made_by"] = h.made_by;  // only on kernel-made stores
  if (w.mechanism) j["engine"] = core::json_name(*w.mechanism);  // what served the watch
  J stack = J::array();
  for (const auto& s : h.stack) {
    J f;
    f["ip"] = fmt::format("{:#x}", s.addr);
    site_json(s, f);
    if (s.inlined) f["inlined"] = true;  // only on virtual frames: other frames keep their shape
    stack.push_back(f);
  }
  j["stack"] = stack;
  std::fputs((j.dump() + "\n").c_str(), out_);
  flush();
}

// ---- typed values (typed_value.hpp) ----

namespace {

std::optional<std::pair<std::uint64_t, std::uint64_t>> store_range(const HitRecord& h) {
  if (!h.store_offset) return std::nullopt;
  return std::pair<std::uint64_t, std::uint64_t>{*h.store_offset, 1};
}

std::span<const std::uint8_t> span_of(const std::optional<std::vector<std::uint8_t>>& b) {
  return b ? std::span<const std::uint8_t>(*b) : std::span<const std::uint8_t>();
}

}  // namespace

std::string Reporter::typed(const symbols::ValueLayout& layout,
                            const std::optional<std::vector<std::uint8_t>>& bytes, std::uint64_t offset) {
  if (!bytes || bytes->size() < offset + layout.size) return "?";
  symbols::SymbolNamer namer;
  if (symbolizer_ && layout.kind == symbols::ValueLayout::Kind::pointer)
    namer = [this](std::uint64_t a) { return symbolizer_->pointer_target(a); };
  return symbols::format_value(layout, std::span(*bytes).subspan(offset), namer);
}

// "  cfg.retries: 3 -> 4 (int)" per member written; a read: "  cfg.retries = 3 (int)".
std::string Reporter::typed_lines(const HitRecord& h) {
  const Watch& w = *h.watch;
  auto whole = [&](const char* note) {
    return fmt::format("  {} = {} ({}{})\n", w.label, typed(*w.layout, h.new_bytes, 0), w.layout->type, note);
  };
  if (w.spec.access == Access::read || !h.old_bytes) return whole("");
  std::size_t more = 0;
  auto members = symbols::written_members(*w.layout, w.label, span_of(h.old_bytes), span_of(h.new_bytes),
                                          store_range(h), kMaxMembersShown, &more);
  if (members.empty()) return whole(", unchanged");  // a same-value store, member unknown
  std::string out;
  for (const auto& m : members)
    out += fmt::format("  {}: {} -> {} ({})\n", m.path, typed(*m.layout, h.old_bytes, m.offset),
                       typed(*m.layout, h.new_bytes, m.offset), m.layout->type);
  if (more) out += fmt::format("  ... and {} more member{} written\n", more, more == 1 ? "" : "s");
  return out;
}

// JSON: "type", "member" (null for a scalar watch), "old_value"/"new_value" as GDB prints them;
// "members" lists each member when one hit wrote several.
void Reporter::typed_json(const HitRecord& h, nlohmann::ordered_json& j) {
  using J = nlohmann::ordered_json;
  const Watch& w = *h.watch;
  const bool read = w.spec.access == Access::read;
  std::size_t more = 0;
  auto members = read || !h.old_bytes
                     ? std::vector<symbols::WrittenMember>{}
                     : symbols::written_members(*w.layout, w.label, span_of(h.old_bytes), span_of(h.new_bytes),
                                                store_range(h), kMaxMembersShown, &more);
  auto one = [&](const symbols::ValueLayout& l, std::uint64_t offset, J& o) {
    o["old_value"] = read || !h.old_bytes ? J(nullptr) : J(typed(l, h.old_bytes, offset));
    o["new_value"] = h.new_bytes ? J(typed(l, h.new_bytes, offset)) : J(nullptr);
  };
  const bool scalar = w.layout->is_leaf();
  const symbols::ValueLayout& first = members.empty() ? *w.layout : *members.front().layout;
  j["type"] = first.type;
  j["member"] = scalar || members.empty() ? J(nullptr) : J(members.front().path);
  one(first, members.empty() ? 0 : members.front().offset, j);
  if (members.size() > 1 || more) {
    J all = J::array();
    for (const auto& m : members) {
      J o;
      o["member"] = m.path;
      o["type"] = m.layout->type;
      one(*m.layout, m.offset, o);
      all.push_back(o);
    }
    j["members"] = all;
    if (more) j["more_members"] = more;
  }
}

void Reporter::flush() {
  // A full disk (ENOSPC) or a reader that went away (EPIPE: SIGPIPE is ignored, tracer.cpp) makes
  // every later hit vanish: remember the first error, the session stops on it (issue 12).
  errno = 0;
  if ((std::fflush(out_) != 0 || std::ferror(out_)) && write_error_ == 0)
    write_error_ = errno != 0 ? errno : EIO;
}

void Reporter::watch_ended(const Watch& w, pid_t tid, const Site& site, const std::string& reason) {
  if (format_ == Format::json) {
    nlohmann::ordered_json j;
    j["event"] = "watch_ended";
    j["watch"] = w.spec.text;
    j["reason"] = reason;
    j["tid"] = tid ? nlohmann::ordered_json(tid) : nlohmann::ordered_json(nullptr);
    j["ip"] = hex_or_null(site.addr);
    site_json(site, j);
    std::fputs((j.dump() + "\n").c_str(), out_);
    std::fflush(out_);
    return;
  }
  std::string line = fmt::format("hwbp: watch '{}' ended: {}", w.spec.text, reason);
  if (tid) line += fmt::format(" (thread {}{})", tid, site.addr ? ", in " + where(site) : "");
  std::FILE* to = format_ == Format::human ? out_ : stderr;
  std::fputs((line + "\n").c_str(), to);
  std::fflush(to);
}

void Reporter::finish(const std::vector<Watch>& watches, std::uint64_t total) {
  switch (format_) {
    case Format::json: finish_json(watches, total); break;
    case Format::count: finish_count(watches); break;
    case Format::folded:
      for (const auto& [stack, n] : folded_) std::fputs(fmt::format("{} {}\n", stack, n).c_str(), out_);
      break;
    case Format::human: finish_human(watches, total); break;
  }
  flush();
}

void Reporter::finish_json(const std::vector<Watch>& watches, std::uint64_t total) {
  nlohmann::ordered_json s;
  s["event"] = "summary";
  s["hits"] = total;
  s["watches"] = nlohmann::ordered_json::array();
  for (const auto& w : watches) {
    nlohmann::ordered_json o;
    o["watch"] = w.spec.text;
    o["hits"] = w.hits;
    if (w.lost) o["lost"] = w.lost;  // counted by the kernel, never reached hwbp (ptrace mode)
    if (auto it = inexact_.find(w.id); it != inexact_.end()) o["inexact"] = it->second;  // hits with a value not exact
    if (!w.served_by.empty()) o["mechanism"] = w.served_by;  // hwbp vm: what served the watch
    if (w.mechanism) o["engine"] = core::json_name(*w.mechanism);
    if (show_coverage_) {  // --flexible only: without it the summary stays as it was
      o["coverage"] = std::round(w.coverage() * 1000) / 1000;  // 1.0 for a pinned watch
      o["rotating"] = w.rotating;
    }
    s["watches"].push_back(o);
  }
  s["inexact"] = inexact_total_;  // hits with a value not exact (racing writers, lost hits)
  s["mode"] = mode_;   // how hits were delivered: "bpf" or "ptrace"
  // Hits the bpf mode could not pass on (its ring was full), plus the watches' "lost".
  s["lost"] = lost_;
  std::fputs((s.dump() + "\n").c_str(), out_);
}

void Reporter::finish_count(const std::vector<Watch>& watches) {
  std::vector<std::pair<std::uint64_t, std::tuple<std::string, std::string, std::string, int>>> rows;
  for (const auto& [key, n] : counts_) rows.push_back({n, key});
  std::stable_sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.first > b.first; });
  std::fputs(fmt::format("{:>8}  {:<20} {:<24} {}\n", "hits", "watch", "function", "location").c_str(), out_);
  // Issue 17: a watch whose hits had a value not exact (threads raced on its bytes, a lost hit)
  // has counts that may include a store that changed nothing or miss one that did (modify, r):
  // its rows are marked, and a note says how many hits and why.
  std::map<std::string, std::uint64_t> inexact_by_text;
  for (const auto& w : watches)
    if (auto it = inexact_.find(w.id); it != inexact_.end() && it->second > 0) inexact_by_text[w.spec.text] += it->second;
  for (const auto& [n, key] : rows) {
    const auto& [watch, func, file, line] = key;
    std::string loc = file.empty() ? "?" : fmt::format("{}:{}", file, line);
    const char* mark = inexact_by_text.contains(watch) ? "  [not exact]" : "";
    std::fputs(fmt::format("{:>8}  {:<20} {:<24} {}{}\n", n, watch, func.empty() ? "?" : func, loc, mark).c_str(), out_);
  }
  for (const auto& [watch, n] : inexact_by_text)
    std::fputs(fmt::format("hwbp: counts of '{}' marked [not exact]: {} hit{} raced with another thread's store to "
                           "its bytes (or lay next to a lost hit), so whether {} changed the value is not known "
                           "exactly; see docs/semantics.md, \"Racing writers\"\n",
                           watch, n, n == 1 ? "" : "s", n == 1 ? "it" : "they").c_str(), out_);
  if (!show_coverage_) return;
  // Per watch, with its coverage: also lists the watches that had no hit while armed.
  for (const auto& w : watches)
    std::fputs(fmt::format("{:>8}  {:<20} total, armed {:.0f}% of the time{}\n", w.hits, w.spec.text,
                           w.coverage() * 100, w.rotating ? " (rotating)" : "").c_str(), out_);
}

void Reporter::finish_human(const std::vector<Watch>& watches, std::uint64_t total) {
  std::string per;
  for (const auto& w : watches) {
    per += fmt::format("{}{}: {}", per.empty() ? "" : (show_coverage_ ? "; " : ", "), w.spec.text, w.hits);
    if (w.lost) per += fmt::format(" ({} lost)", w.lost);
    if (show_coverage_)
      per += fmt::format(" hit{}, armed {:.0f}% of the time", w.hits == 1 ? "" : "s", w.coverage() * 100);
  }
  std::fputs(fmt::format("hwbp: {} hit{} ({})\n", total, total == 1 ? "" : "s", per).c_str(), out_);
  if (inexact_total_ > 0)
    std::fputs(fmt::format("hwbp: {} hit{} with a value not exact (marked [not exact]: threads raced on "
                           "the bytes, or a lost hit's store lies next to them; see docs/semantics.md)\n",
                           inexact_total_, inexact_total_ == 1 ? "" : "s").c_str(), out_);
}

}  // namespace hwbp::cli
