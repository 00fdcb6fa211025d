/* Entry of the 64-bit example guest kernel (kernel.c built with -m64). hwbp vm enters a 64-bit
 * ELF without a Multiboot header at e_entry in long mode, paging on with the first 4 GiB
 * identity-mapped, flat 64-bit segments, interrupts off (docs/vmm.md, src/vmm/machine.cpp).
 * RSP is undefined there: set our own stack before calling C. */
        /* Pages of its own for the stack, as boot.S (write-trap watches make a watched
         * variable's page read-only). */
        .section .bss
        .align 4096
stack_bottom:
        .skip 16384
stack_top:

        .section .text
        .code64
        .globl _start
        .type _start, @function
_start:
        mov $stack_top, %rsp    /* 16-byte aligned before the call, as the SysV ABI wants */
        xor %ebp, %ebp          /* ends frame-pointer backtraces */
        call kmain64
        /* kmain64 never returns; if it did, stop this CPU for good. */
1:      cli
        hlt
        jmp 1b
        .size _start, . - _start
