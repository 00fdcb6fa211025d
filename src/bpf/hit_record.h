/* The data shared by the BPF program (watch_hit.bpf.c) and hwbp's userspace side
 * (hit_program.cpp): map layouts and the hit record. Plain C with kernel integer types so that
 * both clang -target bpf and g++ compile it. */
#ifndef HWBP_BPF_HIT_RECORD_H
#define HWBP_BPF_HIT_RECORD_H

#include <linux/types.h>

#define HWBP_BPF_MAX_VALUE 64           /* bytes of a watch's value carried per hit */
#define HWBP_BPF_MAX_STACK 16384        /* bytes of user stack copied per hit, at most */
#define HWBP_BPF_MAX_WATCHES 256
#define HWBP_BPF_WATCHES_PER_CHUNK 4    /* watches sharing one chunk start address */

/* Which hits the program reports: x86 has no "modify" or "read" breakpoint, so both are value
 * filters over write / read-write hits, decided in the kernel at the moment of the hit. The same
 * values and rule as core::ValueFilter (src/core/value_filter.hpp): a hit whose old bytes are
 * unknown passes every filter. */
enum hwbp_bpf_filter {
  HWBP_BPF_EVERY = 0,     /* every hit (w, rw) */
  HWBP_BPF_CHANGED = 1,   /* the bytes differ from the last hit's (modify) */
  HWBP_BPF_UNCHANGED = 2, /* the bytes are the same (r: an rw hit that did not write) */
  HWBP_BPF_NO_VALUE = 3,  /* execute breakpoints: no bytes to read */
};

/* The user registers a record carries, in the DWARF register numbering of the x86-64 psABI
 * (System V AMD64 ABI, "DWARF Register Number Mapping"): 0 rax, 1 rdx, 2 rcx, 3 rbx, 4 rsi,
 * 5 rdi, 6 rbp, 7 rsp, 8-15 r8-r15, 16 the return address column, here rip. libdwfl's unwinder
 * takes them in this order (symbols/snapshot_unwinder.hpp). */
#define HWBP_BPF_REG_RSP 7
#define HWBP_BPF_REG_RIP 16
#define HWBP_BPF_NREGS 17

/* Map "watches" (array, index = the watch's index in the session). */
struct hwbp_bpf_watch {
  __u64 addr;
  __u32 len;          /* <= HWBP_BPF_MAX_VALUE */
  __u32 filter;       /* enum hwbp_bpf_filter */
  __u32 stack_bytes;  /* user stack to copy per hit, 0 = none */
  __u32 count_only;   /* 1: no record, count the hit in "counts" by (watch, ip) */
};

/* Map "counts" (hash): hits per (watch, trap ip) for count_only watches (hwbp run --count). */
struct hwbp_bpf_count_key {
  __u32 watch;
  __u32 pad;
  __u64 ip;           /* the trap ip: the instruction after the access */
};
#define HWBP_BPF_MAX_COUNT_KEYS 16384

/* Maps "last_hit" and "raced" (arrays, index = watch): --count of a watch with a value filter
 * (modify, r) in the kernel. The filter compares the bytes read at the hit with those read at the
 * previous hit, exact only while no other thread's store to the bytes can fall between a store
 * and its read (issue 17). A store's #DB handler, and the program in it, runs within
 * HWBP_BPF_HOLD_NS of the store (the delivery's assumption: bpf_delivery.cpp, kHoldNs); hits on
 * one CPU, or of one thread, are ordered (a CPU runs a store's #DB handler before its next
 * instruction). So two hits can race only if they come from different CPUs and different threads
 * within that time of each other, and then two hits consecutive in the order of an atomic
 * exchange of "last_hit" do as well: such a hit is counted in "raced", and the watch's counts
 * are then marked not exact. The stamp packs the CPU (bits 0-11), the thread id (bits 12-33:
 * Linux's PID_MAX_LIMIT is 2^22) and the time in jiffies (bits 34-63, compared modulo 2^30: a
 * wrap can only make a race appear, never hide one). Jiffies, not bpf_ktime_get_ns: a memory
 * read, where a clock read may reach a clock-source device (an emulated one in a VM). The window assumes HZ <= 1000 (Linux offers 100, 250, 300 and
 * 1000): with a lower HZ it spans more time than the hold, which only marks more hits. */
#define HWBP_BPF_HOLD_NS 100000000ull
#define HWBP_BPF_STAMP_RACE_UNITS (HWBP_BPF_HOLD_NS / 1000000ull + 2)

/* Map "shadows" (array, same index): the bytes after the last hit, the "old" of the next one. */
struct hwbp_bpf_shadow {
  __u32 known;        /* 0: unknown (unreadable, or re-read while writes may have raced) */
  __u32 pad;
  __u8 bytes[HWBP_BPF_MAX_VALUE];
};

/* Map "chunks" (hash): which watches a hit reports. Key: the breakpoint of the event that hit,
 * read from the event itself (its attr, which the kernel copies into the event of each thread
 * created later and updates when a rotation slot moves): address, length and type
 * (HW_BREAKPOINT_W / RW / X). The address alone is ambiguous: watches of different lengths or
 * access types may start at one address, each its own event. (An attach cookie would not do:
 * the kernel gives the copies it makes for new threads the parent's cookie only sometimes.) */
struct hwbp_bpf_chunk_key {
  __u64 addr;
  __u32 len;
  __u32 type;
};

struct hwbp_bpf_chunk {
  __u32 count;
  __u32 watch[HWBP_BPF_WATCHES_PER_CHUNK];
  __u32 part[HWBP_BPF_WATCHES_PER_CHUNK];  /* which of that watch's chunks this is (< 32) */
};

/* Map "accesses" (per-CPU array, index = watch): the last access reported for the watch on
 * this CPU. One store that covers two chunks of a watch hits two slots, and the program runs
 * once per slot in the same #DB: the second run finds the same thread, the same registers and
 * a chunk not yet seen, and is not a hit of its own. Identical registers mean an identical
 * access, so a later execution starts with a chunk already seen and begins a new access. */
struct hwbp_bpf_access {
  __u32 tid;
  __u32 parts;  /* bit per chunk seen in this access */
  __u64 regs[HWBP_BPF_NREGS];
};

#define HWBP_BPF_OLD_KNOWN 1u
#define HWBP_BPF_NEW_KNOWN 2u

/* One reported hit, as written into the ring buffer "hits". regs are the user registers at the
 * trap, in DWARF x86-64 order (HWBP_BPF_REG_*): rip is the instruction after the access. The
 * record is followed by stack_size bytes of user stack copied from rsp upward.
 *
 * The order of the hits (issue 17): seq_before and seq_after are the watch's counter ("sequence",
 * one atomic add each) taken just before and just after reading new_bytes. A locked add orders
 * the store before it and the read after it (Intel SDM vol. 3, 9.2.3.8 "Locked Instructions
 * Have a Total Order" and 9.2.2 "loads and stores are not reordered with locked
 * instructions"), so when seq_after == seq_before + 1 no other hit of the watch read between
 * them, and such reads are in the order of their seq_before: the order of the stores they saw. */
struct hwbp_bpf_hit {
  __u64 time_ns;
  __u32 tid;
  __u32 watch;
  __u64 bp_addr;
  __u32 flags;        /* HWBP_BPF_OLD_KNOWN | HWBP_BPF_NEW_KNOWN */
  __u32 stack_size;
  __u64 seq_before, seq_after;
  __u32 cpu;          /* the CPU that ran the access and, with interrupts off, this program */
  __u32 pad;
  __u64 rflags;       /* after the access: a read-modify-write's ZF/SF/PF, cmpxchg's ZF */
  __u64 fs_base;      /* for %fs-relative stores (thread-local variables) */
  __u64 regs[HWBP_BPF_NREGS];
  __u8 old_bytes[HWBP_BPF_MAX_VALUE];
  __u8 new_bytes[HWBP_BPF_MAX_VALUE];
};

/* Map "stats" (per-CPU array of __u64, summed by userspace). */
enum hwbp_bpf_stat {
  HWBP_BPF_STAT_SEEN = 0,     /* program runs (hardware hits of our events) */
  HWBP_BPF_STAT_FILTERED,     /* hits dropped by the value filter */
  HWBP_BPF_STAT_LOST,         /* hits the ring buffer had no room for */
  HWBP_BPF_STAT_UNMAPPED,     /* hits of a breakpoint that maps no watch (a rotation in progress) */
  HWBP_BPF_STAT_COUNTS_FULL,  /* count_only hits at a new ip with the "counts" map full */
  HWBP_BPF_STAT_COUNT,
};

#endif
