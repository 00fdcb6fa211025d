#include "symbols/snapshot_unwinder.hpp"

#include <elf.h>
#include <elfutils/libdwfl.h>
#include <libelf.h>

#include <cstring>
#include <string>

#include "symbols/process_memory.hpp"
#include "symbols/symbol_error.hpp"

#if !defined(__x86_64__)
#error "StackSnapshot holds x86-64 registers"
#endif

namespace hwbp::symbols {
namespace {

// Per-image state behind dwfl_attach_state's arg. The callbacks are attached once per image;
// `current` points at the snapshot being unwound, only for the duration of backtrace_snapshot.
struct SnapshotContext {
  explicit SnapshotContext(pid_t pid) : memory(pid) {}
  ~SnapshotContext() {
    if (elf) elf_end(elf);
  }
  SnapshotContext(const SnapshotContext&) = delete;
  SnapshotContext& operator=(const SnapshotContext&) = delete;

  ProcessMemory memory;
  // dwfl_attach_state needs an Elf to pick the architecture backend and keeps using it for the
  // Dwfl's life. A module's Elf (or NULL, which borrows the first module's backend) would dangle
  // once refresh() drops that module; this bare x86-64 header is ours and lives as long.
  Elf64_Ehdr ehdr{};
  Elf* elf = nullptr;
  const StackSnapshot* current = nullptr;
  pid_t tid = 0;
  bool listed = false;  // next_thread already returned the snapshot's thread
};

Elf* make_x86_64_elf(Elf64_Ehdr& ehdr) {
  std::memcpy(ehdr.e_ident, ELFMAG, SELFMAG);
  ehdr.e_ident[EI_CLASS] = ELFCLASS64;
  ehdr.e_ident[EI_DATA] = ELFDATA2LSB;
  ehdr.e_ident[EI_VERSION] = EV_CURRENT;
  ehdr.e_type = ET_EXEC;
  ehdr.e_machine = EM_X86_64;
  ehdr.e_version = EV_CURRENT;
  ehdr.e_ehsize = sizeof ehdr;
  elf_version(EV_CURRENT);
  return elf_memory(reinterpret_cast<char*>(&ehdr), sizeof ehdr);
}

SnapshotContext& context(void* arg) { return *static_cast<SnapshotContext*>(arg); }

// Only one thread exists: the snapshot's. libdwfl calls get_thread for dwfl_getthread_frames;
// next_thread serves dwfl_getthreads.
pid_t next_thread(Dwfl*, void* arg, void** thread_arg) {
  SnapshotContext& ctx = context(arg);
  if (!ctx.current || ctx.listed) return 0;
  ctx.listed = true;
  *thread_arg = arg;
  return ctx.tid;
}

bool get_thread(Dwfl*, pid_t tid, void* arg, void** thread_arg) {
  SnapshotContext& ctx = context(arg);
  if (!ctx.current || tid != ctx.tid) return false;
  *thread_arg = arg;
  return true;
}

bool in_copy(const StackSnapshot& s, std::uint64_t addr) {
  return s.bytes && s.size >= 8 && addr >= s.stack_start && addr - s.stack_start <= s.size - 8;
}

bool in_module(Dwfl* dwfl, std::uint64_t addr) {
  Dwfl_Module* mod = dwfl_addrmodule(dwfl, addr);
  Dwarf_Addr low = 0, high = 0;
  if (!mod || !dwfl_module_info(mod, nullptr, &low, &high, nullptr, nullptr, nullptr, nullptr))
    return false;
  return addr >= low && addr + 8 <= high;  // dwfl_addrmodule also answers past the last module
}

// Stack words come from the copy. Module mappings (code, read-only data: what an unwinder may
// need besides the stack) are read live. The rest, notably the stack beyond the copy, has
// changed since the snapshot: refusing it ends the chain instead of inventing frames.
bool memory_read(Dwfl* dwfl, Dwarf_Addr addr, Dwarf_Word* result, void* arg) {
  SnapshotContext& ctx = context(arg);
  if (!ctx.current) return false;
  if (in_copy(*ctx.current, addr)) {
    std::memcpy(result, ctx.current->bytes + (addr - ctx.current->stack_start), sizeof *result);
    return true;
  }
  if (!in_module(dwfl, addr)) return false;
  try {
    std::vector<std::uint8_t> word = ctx.memory.read(addr, sizeof *result);
    std::memcpy(result, word.data(), sizeof *result);
    return true;
  } catch (...) {  // never let an exception cross libdwfl's C frames
    return false;
  }
}

bool set_initial_registers(Dwfl_Thread* thread, void* thread_arg) {
  const StackSnapshot& s = *context(thread_arg).current;
  static_assert(sizeof(Dwarf_Word) == sizeof(std::uint64_t));
  if (!dwfl_thread_state_registers(thread, 0, s.regs.size(), s.regs.data())) return false;
  // rip is DWARF register 16, the return-address column; set the pc explicitly anyway.
  dwfl_thread_state_register_pc(thread, s.regs[kDwarfRip]);
  return true;
}

const Dwfl_Thread_Callbacks kSnapshotCallbacks = {
    .next_thread = next_thread,
    .get_thread = get_thread,
    .memory_read = memory_read,
    .set_initial_registers = set_initial_registers,
    .detach = nullptr,         // nothing attached: the context is freed by the image
    .thread_detach = nullptr,
};

std::shared_ptr<void> attach_snapshot_callbacks(Dwfl* dwfl, pid_t pid) {
  auto ctx = std::make_shared<SnapshotContext>(pid);
  ctx->elf = make_x86_64_elf(ctx->ehdr);
  if (!ctx->elf)
    throw SymbolError(SymbolErrc::backend,
                      std::string("cannot build an x86-64 ELF header: ") + elf_errmsg(-1));
  if (!dwfl_attach_state(dwfl, ctx->elf, pid, &kSnapshotCallbacks, ctx.get()))
    throw SymbolError(SymbolErrc::backend,
                      "cannot attach snapshot unwinding state: " + dwfl_error_text());
  return ctx;
}

// Sets the context's current snapshot for one unwind, and clears it on every exit path so a
// later libdwfl callback can never see a dangling snapshot.
class CurrentSnapshot {
 public:
  CurrentSnapshot(SnapshotContext& ctx, const StackSnapshot& s, pid_t tid) : ctx_(ctx) {
    ctx_.current = &s;
    ctx_.tid = tid;
    ctx_.listed = false;
  }
  ~CurrentSnapshot() { ctx_.current = nullptr; }
  CurrentSnapshot(const CurrentSnapshot&) = delete;
  CurrentSnapshot& operator=(const CurrentSnapshot&) = delete;

 private:
  SnapshotContext& ctx_;
};

}  // namespace

std::vector<Frame> backtrace_snapshot(ProcessImage& image, const StackSnapshot& s,
                                      std::size_t max_frames) {
  if (max_frames == 0) return {};
  pid_t pid = image.pid();
  auto ctx = std::static_pointer_cast<SnapshotContext>(
      image.snapshot_state([pid](Dwfl* dwfl) { return attach_snapshot_callbacks(dwfl, pid); }));
  // A tid only names the thread to libdwfl; 0 (not filled in) would also mean "no more threads".
  pid_t tid = s.tid > 0 ? s.tid : pid;
  CurrentSnapshot current(*ctx, s, tid);
  return collect_frames(image, tid, max_frames, "the stack snapshot of thread " + std::to_string(tid));
}

}  // namespace hwbp::symbols
