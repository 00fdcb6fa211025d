#include "page/raw_syscall.hpp"

// GNU ld defines __start_/__stop_ symbols for sections named like C identifiers.
extern "C" char __start_hwbp_page_text[], __stop_hwbp_page_text[];

// rdi = nr, rsi..r9 = a1..a5, 8(%rsp) = a6 (SysV) -> rax = nr, rdi, rsi, rdx, r10, r8, r9.
asm(R"(
    .pushsection hwbp_page_text, "ax", @progbits
    .globl hwbp_page_raw_syscall
    .type hwbp_page_raw_syscall, @function
hwbp_page_raw_syscall:
    .cfi_startproc
    mov %rdi, %rax
    mov %rsi, %rdi
    mov %rdx, %rsi
    mov %rcx, %rdx
    mov %r8, %r10
    mov %r9, %r8
    mov 8(%rsp), %r9
    syscall
    ret
    .cfi_endproc
    .size hwbp_page_raw_syscall, .-hwbp_page_raw_syscall

    # The restorers are glibc's __restore_rt byte for byte (48 c7 c0 0f 00 00 00 0f 05), the
    # sequence libgcc's and libunwind's unwinders recognise as a signal frame's return address
    # (libgcc/config/i386/linux-unwind.h): backtraces from a callback still cross the frame.
    .globl hwbp_page_restorer
    .type hwbp_page_restorer, @function
hwbp_page_restorer:
    mov $15, %rax
    syscall
    hlt
    .size hwbp_page_restorer, .-hwbp_page_restorer

    .globl hwbp_page_sigreturn_stub
    .type hwbp_page_sigreturn_stub, @function
hwbp_page_sigreturn_stub:
    mov $15, %rax
    syscall
    hlt
    .size hwbp_page_sigreturn_stub, .-hwbp_page_sigreturn_stub
    .popsection
)");

namespace hwbp::page {

std::uintptr_t allowed_code_begin() noexcept { return reinterpret_cast<std::uintptr_t>(__start_hwbp_page_text); }
std::uintptr_t allowed_code_end() noexcept { return reinterpret_cast<std::uintptr_t>(__stop_hwbp_page_text); }

}  // namespace hwbp::page
