/* Multiboot v1 entry of the example guest kernel (examples/guest_kernel).
 * A Multiboot loader (qemu-system-x86_64 -kernel, hwbp vm) enters _start in 32-bit protected
 * mode, paging off, flat segments, EAX = 0x2BADB002 and EBX = the multiboot information
 * (Multiboot Specification 0.6.96, section 3.2 "Machine state"). ESP is undefined there: set
 * our own stack before calling C. */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* bit 0: modules page-aligned, bit 1: memory information */

        .section .multiboot, "a"
        .align 4
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)

        /* Pages of its own for the stack: a write-trap watch makes the whole page of a watched
         * variable read-only (hwbp vm --engine write-trap), and a stack sharing the page of
         * counter would make every push and call of the kernel trap as well. */
        .section .bss
        .align 4096
stack_bottom:
        .skip 16384
stack_top:

        .section .text
        .globl _start
        .type _start, @function
_start:
        mov $stack_top, %esp
        xor %ebp, %ebp          /* ends frame-pointer backtraces */
        push %ebx               /* kmain(magic, info) */
        push %eax
        call kmain
        /* kmain never returns; if it did, stop this CPU for good. */
1:      cli
        hlt
        jmp 1b
        .size _start, . - _start
