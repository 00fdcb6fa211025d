// The page engine's own system calls and signal-return trampoline, in one code section
// (hwbp_page_text) that syscall user dispatch lets through (kernel/entry/syscall_user_dispatch.c:
// a syscall whose instruction lies in the allowed range is never dispatched). Everything the
// engine does from its signal handlers goes through raw_syscall, so its handlers never trap
// into themselves; rt_sigreturn from a handler of ours leaves through restorer() for the same
// reason (the kernel checks the address of the syscall instruction, and glibc's __restore_rt
// lies outside the range).
#pragma once

#include <cstdint>

namespace hwbp::page {

extern "C" long hwbp_page_raw_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6) noexcept;
extern "C" void hwbp_page_restorer() noexcept;
// rt_sigreturn performed for the frame at the current rsp (see syscall_dispatch.cpp).
extern "C" void hwbp_page_sigreturn_stub() noexcept;
// clone/clone3/fork/vfork re-executed with the program's registers (see syscall_dispatch.cpp).
extern "C" void hwbp_page_clone_stub() noexcept;

inline long raw_syscall(long nr, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0, long a5 = 0,
                        long a6 = 0) noexcept {
  return hwbp_page_raw_syscall(nr, a1, a2, a3, a4, a5, a6);
}

// [begin, end) of the section holding every syscall instruction above.
std::uintptr_t allowed_code_begin() noexcept;
std::uintptr_t allowed_code_end() noexcept;

}  // namespace hwbp::page
