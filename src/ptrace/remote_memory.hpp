// Reads and writes a traced process's memory through /proc/PID/mem.
//
// Why /proc/PID/mem and not process_vm_writev or PTRACE_POKEDATA:
//  - Writes are made with FOLL_FORCE (fs/proc/base.c: mem_rw() -> access_remote_vm() with
//    proc_mem_foll_force(), which grants FOLL_FORCE to the process's ptracer under the default
//    proc_mem.force_override policy). FOLL_FORCE lets a write land in a *read-only private* page:
//    mm/gup.c check_vma_flags() accepts a write to a VMA without VM_WRITE when the mapping is
//    copy-on-write (is_cow_mapping), breaks COW if needed, and writes the page through a kernel
//    mapping; the process's own page-table entry stays read-only. That is how the page engine
//    lands a store in a page it keeps PROT_READ without ever making it writable.
//    process_vm_writev uses no FOLL_FORCE (EFAULT on read-only pages), and POKEDATA moves 8 bytes
//    per syscall.
//  - It does NOT work for read-only *shared* mappings (check_vma_flags refuses FOLL_FORCE writes
//    to non-COW mappings: EFAULT surfaces here as EIO) nor hugetlb pages: callers refuse to
//    protect those.
//  - The file is bound to the mm at open() (mem_open() takes a reference to the mm): after an
//    execve it still reads the old, dead address space (reads return 0 bytes). Reopen after exec.
//  - The open needs PTRACE_MODE_ATTACH_FSCREDS (proc_mem_open), i.e. the rights to trace.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <vector>

namespace hwbp::ptrace {

class RemoteMemory {
 public:
  // Opens /proc/PID/mem for reading and writing. Throws hwbp::Error.
  explicit RemoteMemory(pid_t pid);
  ~RemoteMemory();
  RemoteMemory(RemoteMemory&& other) noexcept;
  RemoteMemory& operator=(RemoteMemory&& other) noexcept;
  RemoteMemory(const RemoteMemory&) = delete;
  RemoteMemory& operator=(const RemoteMemory&) = delete;

  pid_t pid() const noexcept { return pid_; }

  // Reads exactly out.size() bytes at addr. Throws hwbp::Error if any byte is unmapped.
  void read(std::uint64_t addr, std::span<std::uint8_t> out) const;
  std::vector<std::uint8_t> read(std::uint64_t addr, std::size_t len) const;
  // False instead of throwing (e.g. the memory was unmapped meanwhile).
  bool try_read(std::uint64_t addr, std::span<std::uint8_t> out) const noexcept;

  // Writes all of data at addr (FOLL_FORCE: read-only private pages included). Throws.
  void write(std::uint64_t addr, std::span<const std::uint8_t> data) const;
  bool try_write(std::uint64_t addr, std::span<const std::uint8_t> data) const noexcept;

  // The address space was replaced (execve): reopen the file.
  void reopen();

 private:
  pid_t pid_ = 0;
  int fd_ = -1;
};

}  // namespace hwbp::ptrace
