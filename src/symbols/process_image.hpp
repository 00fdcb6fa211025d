// One libdwfl session over a live process: the modules mapped in /proc/PID/maps with their load
// biases (PIE/ASLR-aware), ELF symbol tables and DWARF. SymbolTable, SourceLocator and
// InstructionFinder share one image so the ELF files are opened and indexed once.
//
// Not thread-safe (libdwfl is not): use one image per thread or lock around it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

struct Dwfl;
struct Dwfl_Module;

namespace hwbp::symbols {

// A module (executable or shared object) as mapped in the target process.
struct ModuleInfo {
  Dwfl_Module* handle = nullptr;
  std::string path;       // as in /proc/PID/maps, e.g. "/usr/lib/x86_64-linux-gnu/libc.so.6"
  std::uint64_t low = 0;  // lowest mapped address of the module
  std::uint64_t high = 0; // one past the highest
  bool is_main_executable = false;
};

// Where separate debug info is looked for (GDB's `set debug-file-directory`): a colon-separated
// list of directories, each searched for `.build-id/xx/yyyy.debug` and for the
// `.gnu_debuglink` file under the binary's own directory path. Replaces the default
// /usr/lib/debug; the binary's own directory and its `.debug/` subdirectory are always searched
// for the debuglink file. Empty restores the default. Process-wide (libdwfl reads it when a
// module's debug info is first needed): set it before opening images.
void set_debug_file_directories(const std::string& dirs);
// The libdwfl debuginfo_path in force (e.g. ":.debug:/usr/lib/debug").
std::string debuginfo_path();

class ProcessImage {
 public:
  // Reads `len` bytes at `addr` of the image's memory; throws SymbolError(unreadable).
  using MemoryReader = std::function<std::vector<std::uint8_t>(std::uint64_t addr, std::size_t len)>;

  // pid 0 means the calling process. Throws SymbolError(no_process) if the maps are unreadable.
  static std::shared_ptr<ProcessImage> open(pid_t pid = 0);
  // An ELF file with no process behind it, its one module at the file's own addresses (load
  // bias 0, so a PIE's or library's addresses are before relocation): a program named by
  // `hwbp plan --program`, or a guest kernel under `hwbp vm`. pid() is -1; refresh() and
  // unwinding do nothing useful. Memory, where the caller has any (a guest's RAM), is read
  // through `memory`; an empty reader means there is none. Throws SymbolError(not_found) if the
  // file is not a readable ELF.
  static std::shared_ptr<ProcessImage> open_file(const std::string& path, MemoryReader memory = {});
  ~ProcessImage();
  ProcessImage(const ProcessImage&) = delete;
  ProcessImage& operator=(const ProcessImage&) = delete;

  pid_t pid() const noexcept { return pid_; }
  // "process 1234", or the file's quoted path for an image opened with open_file (for messages).
  std::string description() const;
  // The reader of a file image (open_file); empty for a process (read it through its pid).
  const MemoryReader& memory_reader() const noexcept { return memory_; }
  // True when the image's code is 32-bit x86 (an ELFCLASS32 module at addr).
  bool is_32bit_code(std::uint64_t addr) const;
  Dwfl* dwfl() const noexcept { return dwfl_; }

  // Re-read /proc/PID/maps, e.g. after dlopen; modules already known keep their parsed data.
  void refresh();

  // Prepares libdwfl to unwind this process's threads (once; later calls are no-ops). Not for
  // the calling process: libdwfl ptrace-attaches each thread it unwinds, unless
  // assume_ptrace_stopped says the caller already holds it ptrace-stopped.
  // Throws SymbolError(unsupported) if the image is in snapshot mode (see snapshot_state).
  void attach_for_unwinding(bool assume_ptrace_stopped);

  // Snapshot mode (snapshot_unwinder.cpp): libdwfl unwinds from captured registers and stack
  // instead of live threads. A Dwfl carries a single attached thread state, so an image serves
  // one mode for its whole life. The first call runs attach(dwfl), which builds the mode's
  // context and calls dwfl_attach_state with it; later calls return that context. The image
  // keeps the context alive until after dwfl_end (libdwfl may use it up to then). Throws
  // SymbolError(unsupported) if the image is in live mode; exceptions from attach propagate.
  std::shared_ptr<void> snapshot_state(const std::function<std::shared_ptr<void>(Dwfl*)>& attach);

  // Modules in address order; the callback returns false to stop early.
  void for_each_module(const std::function<bool(const ModuleInfo&)>& fn) const;
  // The module whose mapping contains addr, or a ModuleInfo with handle == nullptr.
  ModuleInfo module_at(std::uint64_t addr) const;

 private:
  explicit ProcessImage(pid_t pid);
  ProcessImage(const std::string& path, MemoryReader memory);
  ModuleInfo describe(Dwfl_Module* mod) const;

  pid_t pid_;
  Dwfl* dwfl_ = nullptr;
  std::string main_executable_;  // realpath of /proc/PID/exe, to spot the main module
  MemoryReader memory_;          // file images only
  enum class UnwindMode { none, live, snapshot };
  UnwindMode unwind_mode_ = UnwindMode::none;
  std::shared_ptr<void> snapshot_ctx_;  // destroyed after ~ProcessImage's dwfl_end
};

// Last libdwfl error as text (for messages).
std::string dwfl_error_text();

}  // namespace hwbp::symbols
