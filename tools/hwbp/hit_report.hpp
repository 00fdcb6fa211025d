// One hit, symbolized, and the four ways of printing hits: human blocks, JSON Lines, a count
// table, folded stacks (flamegraph.pl / speedscope).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "hwbp/types.hpp"
#include "symbols/instruction_finder.hpp"
#include "symbols/process_image.hpp"
#include "symbols/source_locator.hpp"
#include "symbols/unwinder.hpp"
#include "watch_set.hpp"

namespace hwbp::cli {

struct Site {
  std::uint64_t addr = 0;  // the accessing instruction (or the frame's pc)
  std::string func;        // demangled, empty if unknown
  std::string file;        // empty if unknown
  int line = 0;
  std::string module;
  // A virtual frame: `func` was inlined into the next frame's function, at the same addr.
  bool inlined = false;
};

struct HitRecord {
  const Watch* watch = nullptr;
  std::uint64_t seq = 0;  // 1-based among reported hits
  pid_t tid = 0;
  std::string thread_name;
  std::uint64_t ip = 0;   // as reported: the instruction after a data access
  Site site;              // the accessing instruction and its source line
  std::string instruction;  // its text, "unknown" when it cannot be decoded
  std::string made_by;      // non-empty: the kernel made the store for this syscall
  std::optional<std::vector<std::uint8_t>> old_bytes, new_bytes;
  // The first byte the accessing instruction stored, as an offset into the watch, where known
  // (a rip-relative store): names the member a same-value store wrote in a struct watch.
  std::optional<std::uint64_t> store_offset;
  // False: that value is not known exactly (threads raced on the bytes; docs/semantics.md) and
  // is shown marked.
  bool old_exact = true, new_exact = true;
  bool near_lost = false;  // the reason: a lost hit's store lies next to this one
  bool async = false;     // TRAP_PERF_FLAG_ASYNC: SIGTRAP was blocked, the stop came later
  std::vector<Site> stack;  // innermost first; stack[0] is the access site
};

// Address -> source, with caches (a loop writing a variable hits the same sites again and again)
// and one lazy refresh of the module list when an address lies in a module loaded later.
class Symbolizer {
 public:
  void set_image(std::shared_ptr<symbols::ProcessImage> image);
  // The process called execve: hits made before it (read from the BPF ring afterwards) are
  // explained against the image as it was — its modules are kept (no refresh from the new
  // program's maps) and code is read from their files. Until the next set_image.
  void address_space_gone();
  // For a data hit: the instruction before trap_ip. For exec: trap_ip itself.
  Site access_site(std::uint64_t trap_ip, bool exec, std::string* instruction);
  // For an access reported at the accessing instruction itself (an emulated store): that
  // instruction's site and text.
  Site instruction_site(std::uint64_t pc, std::string* instruction);
  // The data access's instruction (the one before trap_ip); nullptr when unknown.
  const symbols::DecodedInstruction* accessing_instruction(std::uint64_t trap_ip);
  // Frames innermost first, frame 0 replaced by `top`. `unwind(depth)` gives the raw frames: of
  // a ptrace-stopped thread, or of a stack snapshot (BPF delivery).
  using Unwind = std::function<std::vector<symbols::Frame>(std::size_t depth)>;
  std::vector<Site> stack(const Unwind& unwind, const Site& top, std::size_t depth);
  std::shared_ptr<symbols::ProcessImage> image() const { return image_; }
  // The address of the memory operand of the instruction that made a data access, where it
  // needs no register (rip-relative, absolute): `pc` is the trap's IP (after the access), or the
  // accessing instruction itself when pc_is_access (the page engine).
  std::optional<std::uint64_t> memory_operand(std::uint64_t pc, bool pc_is_access);
  // What a pointer value points to, as GDB prints it ("<second>", "<table+8>"); "" for none.
  std::string pointer_target(std::uint64_t addr);

 private:
  // addr's innermost frame: for inlined code, the inlined function at the line-table line.
  Site locate(std::uint64_t addr) { return frames_at(addr).front(); }
  // addr's frames, never empty: the inline chain innermost first, then the outer function.
  const std::vector<Site>& frames_at(std::uint64_t addr);
  std::shared_ptr<symbols::ProcessImage> image_;
  std::unique_ptr<symbols::SourceLocator> locator_;
  std::unique_ptr<symbols::InstructionFinder> finder_;
  std::map<std::uint64_t, std::vector<Site>> sites_;
  struct Access {
    Site site;
    std::string text;
    std::optional<symbols::DecodedInstruction> instruction;
  };
  std::map<std::uint64_t, Access> accesses_;  // by trap ip
  std::set<std::uint64_t> unknown_pcs_;
  std::map<std::uint64_t, std::string> pointer_targets_;
  bool gone_ = false;  // address_space_gone()
};

enum class Format { human, json, count, folded };

class Reporter {
 public:
  Reporter(Format format, std::FILE* out, bool show_stack) : format_(format), out_(out), show_stack_(show_stack) {}
  // --flexible: the summaries give each watch's coverage next to its hit count (a watch armed
  // part of the time must never read as "no hits" without it).
  void set_show_coverage(bool on) { show_coverage_ = on; }
  // For the JSON summary: the delivery mode, and hits it lost.
  void set_delivery(std::string mode, std::uint64_t lost) {
    mode_ = std::move(mode);
    lost_ = lost;
  }
  // Names what pointer values point to in typed values (none without it).
  void set_symbolizer(Symbolizer* symbolizer) { symbolizer_ = symbolizer; }
  void hit(const HitRecord& h);
  // --count: n hits at h's site at once (counted in the kernel by the BPF mode).
  void count(const HitRecord& h, std::uint64_t n);
  // n of w's hits counted in the kernel raced with another thread's store: whether they changed
  // the bytes is not exact (counted with the hits whose values are not exact).
  void counts_not_exact(const Watch& w, std::uint64_t n);
  // A watch ended before the session did (the page engine: its memory was unmapped, exec):
  // a human line or a JSON event ("watch_ended"); on stderr for --count / --folded. `site`:
  // where the thread that ended it was (its system call), empty when none.
  void watch_ended(const Watch& w, pid_t tid, const Site& site, const std::string& reason);
  // End of the session: summary (json), the table (count), the stacks (folded), a line (human).
  void finish(const std::vector<Watch>& watches, std::uint64_t total);
  // The errno of the first failed write (EPIPE, ENOSPC, EIO), 0 while every write succeeded.
  int write_error() const noexcept { return write_error_; }

 private:
  void flush();
  void human(const HitRecord& h);
  void json(const HitRecord& h);
  std::string typed_lines(const HitRecord& h);
  void typed_json(const HitRecord& h, nlohmann::ordered_json& j);
  std::string typed(const symbols::ValueLayout& layout, const std::optional<std::vector<std::uint8_t>>& bytes,
                    std::uint64_t offset);
  void finish_json(const std::vector<Watch>& watches, std::uint64_t total);
  void finish_count(const std::vector<Watch>& watches);
  void finish_human(const std::vector<Watch>& watches, std::uint64_t total);
  Format format_;
  Symbolizer* symbolizer_ = nullptr;
  bool show_coverage_ = false;
  std::string mode_ = "ptrace";
  std::uint64_t lost_ = 0;
  std::map<core::WatchId, std::uint64_t> inexact_;  // reported hits with a value not exact, per watch
  std::uint64_t inexact_total_ = 0;
  std::FILE* out_;
  int write_error_ = 0;
  bool show_stack_;
  std::map<std::tuple<std::string, std::string, std::string, int>, std::uint64_t> counts_;
  std::map<std::string, std::uint64_t> folded_;
};

}  // namespace hwbp::cli
