// This process's memory through /proc/self/mem: the one way to store into a page that stays
// read-only (the kernel's FOLL_FORCE access: mem_rw() in fs/proc/base.c). The file is opened
// once and reopened after fork (an open /proc/self/mem stays bound to the mm it was opened in,
// so a forked child would otherwise write into its parent). Async-signal-safe after open().
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace hwbp::page {

// Opens (or, in a forked child, reopens) the file; false with errno on failure. Normal context.
bool open_self_memory() noexcept;
// Whole-buffer write/read at addr; false if any part fails (unmapped memory).
bool write_self(std::uintptr_t addr, const void* data, std::size_t len) noexcept;
bool read_self(std::uintptr_t addr, void* out, std::size_t len) noexcept;
// True in the process that opened the file (not in a child forked since, by glibc's fork or a
// raw clone). Usually no system call: see self_memory.cpp. Async-signal-safe.
bool opened_in_this_process() noexcept;

}  // namespace hwbp::page
