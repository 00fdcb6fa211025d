/* The example guest kernel: a freestanding 32-bit Multiboot v1 kernel that runs unchanged under
 * `qemu-system-x86_64 -kernel` and under `hwbp vm` (README, make demo, tests/vmm). The same file
 * built with -m64 and boot64.S is the 64-bit example (guest_kernel64.elf): hwbp vm enters it in
 * long mode with identity-mapped page tables and no boot information, so it has no command line
 * (the defaults below apply) and prints no Multiboot lines.
 *
 * It greets over COM1, checks the Multiboot hand-over, then does some work with a planted bug:
 * record_sample() keeps the last samples in history[4], but its bound check is off by one, so
 * the fifth sample lands in max_retries, the next variable. `hwbp vm --watch max_retries` names
 * the culprit: record_sample, this file's line LINE-STRAY-WRITE, old 3 -> new 5.
 *
 * Command line words (Multiboot cmdline, QEMU's -append):
 *   exit=N    value written to the isa-debug-exit port at the end (status (N << 1) | 1);
 *             default: 0 when max_retries survived, 1 when it was corrupted
 *   loops=N   rounds of work (default 5)
 *   fault     end with a triple fault instead of the exit port (no IDT)
 */
#include <stdint.h>

#define COM1 0x3f8
#define DEBUG_EXIT_PORT 0xf4
#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002u
#define MBI_FLAG_MEMORY (1u << 0)
#define MBI_FLAG_CMDLINE (1u << 2)

struct multiboot_info {
  uint32_t flags;
  uint32_t mem_lower, mem_upper;
  uint32_t boot_device;
  uint32_t cmdline;
};

/* One section, kept in source order (-fno-toplevel-reorder): history[4] is max_retries, the
 * planted bug. */
#define SAMPLES __attribute__((section(".data.samples")))
SAMPLES uint32_t history[4];
SAMPLES uint32_t max_retries = 3;
volatile uint32_t counter;
volatile uint64_t ticks;

static inline void outb(uint16_t port, uint8_t value) {
  __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}
static inline uint8_t inb(uint16_t port) {
  uint8_t value;
  __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}

static void serial_init(void) {
  outb(COM1 + 1, 0x00); /* no interrupts */
  outb(COM1 + 3, 0x80); /* DLAB on: the next two bytes are the divisor, not output */
  outb(COM1 + 0, 0x01); /* 115200 baud */
  outb(COM1 + 1, 0x00);
  outb(COM1 + 3, 0x03); /* 8N1, DLAB off */
  outb(COM1 + 2, 0xc7); /* FIFO on */
}

static void putc_serial(char c) {
  while (!(inb(COM1 + 5) & 0x20)) { /* LSR: transmitter holding register empty */
  }
  outb(COM1, (uint8_t)c);
}

static void puts_serial(const char* s) {
  while (*s) putc_serial(*s++);
}

static void put_uint(uint32_t v) {
  char digits[11];
  int n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) putc_serial(digits[--n]);
}

/* "word=123" in the command line -> 123; `fallback` when absent. */
static uint32_t cmdline_value(const char* cmdline, const char* word, uint32_t fallback) {
  for (const char* p = cmdline; p && *p; ++p) {
    if (p != cmdline && p[-1] != ' ') continue;
    const char* w = word;
    const char* q = p;
    while (*w && *q == *w) ++w, ++q;
    if (*w) continue;
    if (*q == '\0' || *q == ' ') return 1; /* a bare flag */
    if (*q++ != '=') continue;
    uint32_t v = 0;
    while (*q >= '0' && *q <= '9') v = v * 10 + (uint32_t)(*q++ - '0');
    return v;
  }
  return fallback;
}

static void exit_qemu(uint32_t value) {
  outb(DEBUG_EXIT_PORT, (uint8_t)value);
}

__attribute__((noinline)) void bump_counter(uint32_t by) {
  counter = counter + by;
  ticks = ticks + 0x100000001ull;
}

__attribute__((noinline)) void record_sample(uint32_t round, uint32_t sample) {
  uint32_t slot = round % 8;
  if (slot <= 4) /* BUG: should be < 4 */
    history[slot] = sample; /* LINE-STRAY-WRITE */
}

__attribute__((noinline)) void do_work(uint32_t loops) {
  for (uint32_t round = 0; round < loops; ++round) {
    bump_counter(round + 1);
    record_sample(round, round + 1);
  }
}

__attribute__((noinline)) void triple_fault(void) {
  /* An empty IDT: the next exception cannot be delivered, the CPU shuts down. */
  static const struct __attribute__((packed)) { uint16_t limit; uintptr_t base; } no_idt = {0, 0};
  __asm__ volatile("lidt %0; int $3" : : "m"(no_idt));
}

/* The work and the end, after the boot protocol's own checks. */
static void run(const char* cmdline) {
  uint32_t loops = cmdline_value(cmdline, "loops", 5);
  do_work(loops);
  puts_serial("counter ");
  put_uint(counter);
  puts_serial(", max_retries ");
  put_uint(max_retries);
  puts_serial(max_retries == 3 ? "\n" : " (corrupted!)\n");
  if (cmdline_value(cmdline, "fault", 0)) triple_fault();
  exit_qemu(cmdline_value(cmdline, "exit", max_retries == 3 ? 0 : 1));
  for (;;) __asm__ volatile("cli; hlt");
}

#ifdef __x86_64__
/* hwbp vm's 64-bit rule (docs/vmm.md): long mode at the ELF entry, no boot information. */
void kmain64(void) {
  serial_init();
  puts_serial("hwbp example kernel (64-bit)\n");
  run("");
}
#else
void kmain(uint32_t magic, const struct multiboot_info* info) {
  serial_init();
  puts_serial("hwbp example kernel\n");
  if (magic != MULTIBOOT_BOOTLOADER_MAGIC) {
    puts_serial("not booted by a Multiboot loader\n");
    exit_qemu(0x7f);
  }
  const char* cmdline = (info->flags & MBI_FLAG_CMDLINE) ? (const char*)(uintptr_t)info->cmdline : "";
  /* The amounts differ between loaders (QEMU's come from SeaBIOS's e820 map): say only that
   * they were given, so every loader prints the same. */
  if (info->flags & MBI_FLAG_MEMORY) puts_serial(info->mem_upper >= 1024 ? "memory: ok\n" : "memory: too small\n");
  puts_serial("cmdline: ");
  puts_serial(cmdline);
  putc_serial('\n');
  run(cmdline);
}
#endif
