#include "symbols/process_image.hpp"

#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "symbols/symbol_error.hpp"

namespace hwbp::symbols {
namespace {

// find_elf opens the files named in /proc/PID/maps (through /proc/PID/root, so a process in
// another mount namespace works); find_debuginfo (elfutils libdwfl/find-debuginfo.c) looks in
// the file itself, then for the build-id under each absolute directory of the debuginfo path
// (DIR/.build-id/xx/yyyy.debug), then for the .gnu_debuglink name beside the file, in its
// .debug/ and under each absolute directory, and last, when DEBUGINFOD_URLS is set, asks the
// debuginfod servers by build-id. An ELF symbol table packed in .gnu_debugdata (MiniDebugInfo)
// is read when no other symbol table is found (libdwfl/dwfl_module_getdwarf.c, find_aux_sym).
// The path's default (nullptr) is libdwfl's ":.debug:/usr/lib/debug".
constexpr const char* kDefaultDebuginfoPath = ":.debug:/usr/lib/debug";
std::string g_debuginfo_path_text;
char* g_debuginfo_path = nullptr;
const Dwfl_Callbacks kProcCallbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = nullptr,
    .debuginfo_path = &g_debuginfo_path,
};

// A file image: libdwfl's offline mode (dwfl_report_elf at the file's own addresses), with the
// same debuginfo search as a process.
const Dwfl_Callbacks kFileCallbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &g_debuginfo_path,
};

std::string real_exe_path(pid_t pid) {
  std::string link = "/proc/" + std::to_string(pid) + "/exe";
  char buf[PATH_MAX];
  ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  if (n <= 0) return {};
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

void set_debug_file_directories(const std::string& dirs) {
  g_debuginfo_path_text = dirs.empty() ? std::string() : ":.debug:" + dirs;
  g_debuginfo_path = g_debuginfo_path_text.empty() ? nullptr : g_debuginfo_path_text.data();
}

std::string debuginfo_path() { return g_debuginfo_path ? g_debuginfo_path : kDefaultDebuginfoPath; }

std::string dwfl_error_text() {
  const char* msg = dwfl_errmsg(-1);
  return msg ? msg : "unknown libdwfl error";
}

std::shared_ptr<ProcessImage> ProcessImage::open(pid_t pid) {
  return std::shared_ptr<ProcessImage>(new ProcessImage(pid == 0 ? ::getpid() : pid));
}

ProcessImage::ProcessImage(pid_t pid) : pid_(pid) {
  dwfl_ = dwfl_begin(&kProcCallbacks);
  if (!dwfl_) throw SymbolError(SymbolErrc::backend, "dwfl_begin failed: " + dwfl_error_text());
  main_executable_ = real_exe_path(pid_);
  try {
    refresh();
  } catch (...) {
    dwfl_end(dwfl_);
    throw;
  }
}

std::shared_ptr<ProcessImage> ProcessImage::open_file(const std::string& path, MemoryReader memory) {
  return std::shared_ptr<ProcessImage>(new ProcessImage(path, std::move(memory)));
}

ProcessImage::ProcessImage(const std::string& path, MemoryReader memory)
    : pid_(-1), memory_(std::move(memory)) {
  dwfl_ = dwfl_begin(&kFileCallbacks);
  if (!dwfl_) throw SymbolError(SymbolErrc::backend, "dwfl_begin failed: " + dwfl_error_text());
  char resolved[PATH_MAX];
  main_executable_ = ::realpath(path.c_str(), resolved) ? resolved : path;
  dwfl_report_begin(dwfl_);
  // Base 0 with add_p_vaddr: an ET_DYN file (PIE, library) keeps its own addresses; for ET_EXEC
  // (a guest kernel) libdwfl ignores the base and uses the link addresses either way
  // (elfutils libdwfl/dwfl_report_elf.c, __libdwfl_elf_address_range).
  Dwfl_Module* mod = dwfl_report_elf(dwfl_, main_executable_.c_str(), main_executable_.c_str(), -1,
                                     0, true);
  dwfl_report_end(dwfl_, nullptr, nullptr);
  if (!mod) {
    std::string why = dwfl_error_text();
    dwfl_end(dwfl_);
    throw SymbolError(SymbolErrc::not_found, "cannot read '" + path + "' as an ELF file: " + why);
  }
}

std::string ProcessImage::description() const {
  return pid_ < 0 ? "'" + main_executable_ + "'" : "process " + std::to_string(pid_);
}

ProcessImage::~ProcessImage() { dwfl_end(dwfl_); }

bool ProcessImage::is_32bit_code(std::uint64_t addr) const {
  Dwfl_Module* mod = dwfl_addrmodule(dwfl_, addr);
  GElf_Addr bias = 0;
  Elf* elf = mod ? dwfl_module_getelf(mod, &bias) : nullptr;
  return elf && gelf_getclass(elf) == ELFCLASS32;
}

void ProcessImage::refresh() {
  if (pid_ < 0) return;  // a file image: its one module never changes
  dwfl_report_begin(dwfl_);
  int rc = dwfl_linux_proc_report(dwfl_, pid_);
  dwfl_report_end(dwfl_, nullptr, nullptr);
  if (rc != 0) {
    // rc > 0 is an errno from opening /proc/PID/maps; rc < 0 a libdwfl error.
    std::string why = rc > 0 ? std::strerror(rc) : dwfl_error_text();
    throw SymbolError(SymbolErrc::no_process,
                      "cannot read the memory map of process " + std::to_string(pid_) + ": " +
                          why + " (is the process alive, and may we ptrace it?)",
                      {}, rc > 0 ? rc : 0);
  }
}

void ProcessImage::attach_for_unwinding(bool assume_ptrace_stopped) {
  if (unwind_mode_ == UnwindMode::live) return;
  if (unwind_mode_ == UnwindMode::snapshot)
    throw SymbolError(SymbolErrc::unsupported,
                      "this process image unwinds from snapshots; open another ProcessImage to "
                      "unwind live threads");
  if (pid_ == ::getpid())
    throw SymbolError(SymbolErrc::unsupported,
                      "libdwfl cannot unwind threads of its own process; use backtrace_self()");
  int rc = dwfl_linux_proc_attach(dwfl_, pid_, assume_ptrace_stopped);
  if (rc != 0)
    throw SymbolError(SymbolErrc::no_process,
                      "cannot attach to process " + std::to_string(pid_) + " for unwinding: " +
                          (rc > 0 ? std::string(std::strerror(rc)) : dwfl_error_text()),
                      {}, rc > 0 ? rc : 0);
  unwind_mode_ = UnwindMode::live;
}

std::shared_ptr<void> ProcessImage::snapshot_state(
    const std::function<std::shared_ptr<void>(Dwfl*)>& attach) {
  if (unwind_mode_ == UnwindMode::snapshot) return snapshot_ctx_;
  if (unwind_mode_ == UnwindMode::live)
    throw SymbolError(SymbolErrc::unsupported,
                      "this process image unwinds live threads; open another ProcessImage to "
                      "unwind from snapshots");
  snapshot_ctx_ = attach(dwfl_);
  unwind_mode_ = UnwindMode::snapshot;
  return snapshot_ctx_;
}

ModuleInfo ProcessImage::describe(Dwfl_Module* mod) const {
  ModuleInfo info;
  info.handle = mod;
  Dwarf_Addr low = 0, high = 0;
  const char* name = dwfl_module_info(mod, nullptr, &low, &high, nullptr, nullptr, nullptr,
                                      nullptr);
  info.path = name ? name : "";
  info.low = low;
  info.high = high;
  info.is_main_executable = !main_executable_.empty() && info.path == main_executable_;
  return info;
}

void ProcessImage::for_each_module(const std::function<bool(const ModuleInfo&)>& fn) const {
  struct Ctx {
    const ProcessImage* self;
    const std::function<bool(const ModuleInfo&)>* fn;
  } ctx{this, &fn};
  auto cb = [](Dwfl_Module* mod, void**, const char*, Dwarf_Addr, void* arg) -> int {
    auto* c = static_cast<Ctx*>(arg);
    return (*c->fn)(c->self->describe(mod)) ? DWARF_CB_OK : DWARF_CB_ABORT;
  };
  dwfl_getmodules(dwfl_, cb, &ctx, 0);
}

ModuleInfo ProcessImage::module_at(std::uint64_t addr) const {
  Dwfl_Module* mod = dwfl_addrmodule(dwfl_, addr);
  if (!mod) return {};
  // dwfl_addrmodule answers with the nearest module below for addresses past the last one
  // (the stack, for instance): check the module's range ourselves.
  ModuleInfo info = describe(mod);
  return addr >= info.low && addr < info.high ? info : ModuleInfo{};
}

}  // namespace hwbp::symbols
