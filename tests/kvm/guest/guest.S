/* The test VMM's guest: 64-bit code that runs in a KVM guest, not on the host.
 *
 * It is assembled into the test binary as data (section .rodata.hwbp_guest) and copied by
 * TestVm to guest-physical (= guest-virtual) 0x10000, so it is position-independent: jumps are
 * relative, data comes in registers the host sets. Labels are exported; the host turns
 * `label - hwbp_guest_begin` into guest addresses and expects exits exactly there.
 *
 * Ports (one-byte `out %al, $port`: KVM_EXIT_IO to the VMM):
 *   0xE0 report  an exception the guest handled (rax vector, rbx rip, rcx dr6, rdx error code)
 *   0xE1 fatal   an exception the guest cannot handle (same registers); the guest stops
 *   0xE2 done    the scenario finished
 *   0xE3 mark    a scenario-defined point (rax, rbx as the scenario says)
 */
#define PORT_REPORT 0xe0
#define PORT_FATAL 0xe1
#define PORT_DONE 0xe2
#define PORT_MARK 0xe3

  .section .rodata.hwbp_guest, "a"
  .code64
  .balign 16
  .globl hwbp_guest_begin
hwbp_guest_begin:

/* ---- the kernel selftest x86/debug_regs.c, in its order ------------------------------------ */
/* rdi = &guest_value. The preamble sends the vCPU a fixed IPI (vector 0xAA) that stays pending
 * while IF = 0: single-steps with BLOCKIRQ must not take it after `sti`. The selftest does this
 * through x2APIC MSRs; the xAPIC's MMIO registers do the same without the CPUID bit x2APIC needs
 * (the test VM cannot set guest CPUID). */
  .globl g_selftest
g_selftest:
  mov $0xfee000f0, %edx      /* spurious-interrupt vector register: APIC software enable */
  movl $0x1ff, (%rdx)
  mov $0xfee00300, %edx      /* ICR low: self shorthand, fixed, vector 0xAA */
  movl $0x400aa, (%rdx)
  .globl g_sw_bp
g_sw_bp:
  int3
  .globl g_hw_bp
g_hw_bp:
  nop
  mov $1234, %rax
  .globl g_store
g_store:
  mov %rax, (%rdi)
  .globl g_write_data
g_write_data:
  .globl g_ss_start
g_ss_start:
  sti
  xor %eax, %eax
  cpuid
  mov $0x6e0, %ecx           /* MSR_IA32_TSC_DEADLINE: a wrmsr KVM completes on exit */
  wrmsr
  cli
  .globl g_bd_start
g_bd_start:
  mov %dr0, %rax
  out %al, $PORT_DONE
  jmp g_bd_start

/* ---- data accesses of each size, a read, two watches in one store --------------------------- */
/* rdi = data */
  .globl g_sizes
g_sizes:
  movb $0x11, (%rdi)
  .globl g_after_byte
g_after_byte:
  movw $0x2222, 2(%rdi)
  .globl g_after_word
g_after_word:
  movl $0x33333333, 4(%rdi)
  .globl g_after_long
g_after_long:
  mov %rax, 8(%rdi)
  .globl g_after_quad
g_after_quad:
  mov 8(%rdi), %rbx
  .globl g_after_read
g_after_read:
  out %al, $PORT_DONE
  jmp g_sizes

/* ---- a loop with a breakpoint: rcx iterations, each counted at (rdi) --------------------- */
  .globl g_loop
g_loop:
  .globl g_loop_bp
g_loop_bp:
  nop
  incq (%rdi)
  dec %rcx
  jnz g_loop
  out %al, $PORT_DONE
  jmp g_loop

/* ---- the guest's own debug registers: rdi = the address of g_guest_bp_target -------------- */
  .globl g_guest_bp_setup
g_guest_bp_setup:
  mov %rdi, %dr0
  mov $0x402, %eax           /* G0, execute, length 1 */
  mov %rax, %dr7
  out %al, $PORT_MARK
  .globl g_guest_bp_target
g_guest_bp_target:
  nop
  out %al, $PORT_MARK
  jmp g_guest_bp_target

/* ---- the guest single-steps itself (TF): six #DB traps ------------------------------------ */
  .globl g_guest_tf
g_guest_tf:
  pushfq
  orl $0x100, (%rsp)
  popfq
  .globl g_tf_1
g_tf_1:
  nop
  .globl g_tf_2
g_tf_2:
  nop
  .globl g_tf_3
g_tf_3:
  nop
  .globl g_tf_4
g_tf_4:
  pushfq
  .globl g_tf_5
g_tf_5:
  andl $~0x100, (%rsp)
  .globl g_tf_6
g_tf_6:
  popfq
  .globl g_tf_end
g_tf_end:
  out %al, $PORT_DONE
  jmp g_guest_tf

/* ---- ICEBP (INT1): a #DB with no DR6 bit ---------------------------------------------------- */
  .globl g_icebp
g_icebp:
  .byte 0xf1
  .globl g_after_icebp
g_after_icebp:
  out %al, $PORT_DONE
  jmp g_icebp

/* ---- stores of every shape KVM emulates: rdi = destination, rsi = source (16 bytes to copy,
 * then 16 for xmm0), rax, rbx = values ---------------------------------------------------------- */
  .globl g_shapes
g_shapes:
  movdqu 16(%rsi), %xmm0
  movb $0x01, (%rdi)
  movw $0x0202, 2(%rdi)
  movl $0x03030303, 4(%rdi)
  mov %rax, 8(%rdi)
  xchg %rbx, 16(%rdi)
  lock addl $5, 24(%rdi)
  lea 32(%rdi), %rdi
  mov $16, %ecx
  rep movsb
  movdqu %xmm0, (%rdi)       /* rdi = dest + 48 after the copy */
  .globl g_shapes_end
g_shapes_end:
  out %al, $PORT_DONE
  jmp g_shapes

/* ---- rcx loads of (rdi), then rcx stores of rcx to (rsi) ----------------------------------- */
  .globl g_reads
g_reads:
  mov (%rdi), %rax
  dec %rcx
  jnz g_reads
  out %al, $PORT_DONE
  jmp g_reads

  .globl g_count_stores
g_count_stores:
  .globl g_count_store
g_count_store:
  mov %ecx, (%rsi)
  .globl g_count_after
g_count_after:
  dec %rcx
  jnz g_count_stores
  out %al, $PORT_DONE
  jmp g_count_stores

/* ---- a guest page-table change: rdi = the PTE, rsi = its new value, rdx = the page ------- */
  .globl g_remap
g_remap:
  mov %rsi, (%rdi)
  invlpg (%rdx)
  movl $0x77, (%rdx)
  out %al, $PORT_DONE
  .globl g_remap_store
g_remap_store:
  movl $0x88, (%rdx)
  out %al, $PORT_DONE
  jmp g_remap_store

/* ---- the seed's scenario: all four debug registers, rcx iterations ----------------------- */
/* DR0, DR1: execute g_seed_x0 / g_seed_x1; DR2, DR3: writes to (rdi) and 8(rdi). */
  .globl g_seed
g_seed:
  .globl g_seed_x0
g_seed_x0:
  nop
  .globl g_seed_x1
g_seed_x1:
  nop
  mov %ecx, (%rdi)
  mov %ecx, 8(%rdi)
  dec %rcx
  jnz g_seed
  out %al, $PORT_DONE
  jmp g_seed

/* ---- benchmark loops: a nop that carries an execute breakpoint; a store of a new value to (rdi) */
  .globl g_bench_exec
g_bench_exec:
  .globl g_bench_nop
g_bench_nop:
  nop
  jmp g_bench_exec

  .globl g_bench_store
g_bench_store:
  inc %eax
  mov %eax, (%rdi)
  jmp g_bench_store

/* ---- a halted vCPU: blocked inside KVM_RUN (the in-kernel APIC keeps it there) ------------- */
  .globl g_halt
g_halt:
  cli
  hlt
  jmp g_halt

/* never executed: breakpoints that only take a debug register */
  .globl g_unreached
g_unreached:
  .fill 16, 1, 0x90
  out %al, $PORT_FATAL
  jmp g_unreached

/* ---- exceptions and interrupts: 256 stubs of 16 bytes, then one handler ------------------- */
  .balign 16
  .globl g_vectors
g_vectors:
  .set vec, 0
  .rept 256
  .balign 16
  /* The CPU pushes an error code for these; the others get a 0 so the frame is the same. */
  .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
  .else
  pushq $0
  .endif
  pushq $vec
  jmp g_common_handler
  .set vec, vec + 1
  .endr

/* Frame after the four pushes: rdx, rcx, rbx, rax, vector, error, rip, cs, rflags, rsp, ss. */
g_common_handler:
  push %rax
  push %rbx
  push %rcx
  push %rdx
  mov 32(%rsp), %rax
  mov 48(%rsp), %rbx
  xor %ecx, %ecx
  cmp $1, %rax
  jne 1f
  mov %dr6, %rcx             /* why: BS for a step, B0-B3 for the guest's own breakpoints */
  mov $0xffff0ff0, %edx      /* DR6 bits are sticky: reset them, as Linux does */
  mov %rdx, %dr6
  orl $0x10000, 64(%rsp)     /* RF: do not re-fault on the guest's own instruction breakpoint */
1:
  mov 40(%rsp), %rdx
  cmp $1, %rax
  je 3f
  cmp $3, %rax
  je 3f
  cmp $0xaa, %rax
  je 2f
  out %al, $PORT_FATAL
4:
  jmp 4b
2:
  push %rdx
  mov $0xfee000b0, %edx      /* xAPIC EOI */
  movl $0, (%rdx)
  pop %rdx
  mov $0xaa, %eax
3:
  out %al, $PORT_REPORT
  pop %rdx
  pop %rcx
  pop %rbx
  pop %rax
  add $16, %rsp
  iretq

  .globl hwbp_guest_end
hwbp_guest_end:

  /* Host-side: no executable stack for the binary that carries this guest. */
  .section .note.GNU-stack, "", @progbits
