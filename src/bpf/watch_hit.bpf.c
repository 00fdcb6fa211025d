/* The BPF program hwbp attaches to its breakpoint events (PERF_EVENT_IOC_SET_BPF). It runs in
 * the kernel's #DB handler on the CPU of the thread that made the access, before that thread
 * returns to user mode: the bytes it reads are exactly those the access left, and the thread is
 * never stopped and no signal is sent. It decides "modify" / "read" by comparing with the bytes
 * of the previous hit, and writes one record per reported hit into a ring buffer that hwbp reads
 * asynchronously. Returning 0 tells perf to skip its own sample output (none is mapped anyway).
 *
 * Compiled with clang -target bpf. One CO-RE relocation (libbpf, against the kernel's BTF): the
 * offset of perf_event.attr, to read which breakpoint hit; the rest is uapi. */
#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <linux/perf_event.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "hit_record.h"

#define HWBP_BPF_PAGE 4096u

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, HWBP_BPF_MAX_WATCHES);
  __type(key, __u32);
  __type(value, struct hwbp_bpf_watch);
} watches SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, HWBP_BPF_MAX_WATCHES);
  __type(key, __u32);
  __type(value, struct hwbp_bpf_shadow);
} shadows SEC(".maps");

/* Per watch: the counter that orders its hits (hit_record.h, seq_before/seq_after). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, HWBP_BPF_MAX_WATCHES);
  __type(key, __u32);
  __type(value, __u64);
} sequence SEC(".maps");

/* --count of a modify / r watch: the last hit's stamp and the hits that raced (hit_record.h). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, HWBP_BPF_MAX_WATCHES);
  __type(key, __u32);
  __type(value, __u64);
} last_hit SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, HWBP_BPF_MAX_WATCHES);
  __type(key, __u32);
  __type(value, __u64);
} raced SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 128);  /* an entry per breakpoint in use: at most the slot table's 64 */
  __type(key, struct hwbp_bpf_chunk_key);
  __type(value, struct hwbp_bpf_chunk);
} chunks SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, HWBP_BPF_MAX_COUNT_KEYS);
  __type(key, struct hwbp_bpf_count_key);
  __type(value, __u64);
} counts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, HWBP_BPF_MAX_WATCHES);
  __type(key, __u32);
  __type(value, struct hwbp_bpf_access);
} accesses SEC(".maps");

/* The record is built here, not on the 512-byte BPF stack: it carries up to 16 KB of stack. */
struct scratch_record {
  struct hwbp_bpf_hit hit;
  __u8 stack[HWBP_BPF_MAX_STACK + HWBP_BPF_PAGE];  /* slack: see copy_stack */
};
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct scratch_record);
} scratch SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, HWBP_BPF_STAT_COUNT);
  __type(key, __u32);
  __type(value, __u64);
} stats SEC(".maps");

/* Resized by userspace before load (bpf_map__set_max_entries). */
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 24);
} hits SEC(".maps");

/* The kernel's context behind bpf_perf_event_data (include/linux/perf_event.h), and of struct
 * perf_event only its attr (uapi layout): field offsets are relocated by name at load. */
struct bpf_perf_event_data_kern___hwbp {
  void *regs;
  void *data;
  struct perf_event___hwbp *event;
} __attribute__((preserve_access_index));
struct perf_event___hwbp {
  struct perf_event_attr attr;
} __attribute__((preserve_access_index));

/* attr.bp_type, bp_addr and bp_len, contiguous in the uapi struct. */
struct breakpoint_attr {
  __u32 type;
  __u64 addr;
  __u64 len;
} __attribute__((packed));
_Static_assert(__builtin_offsetof(struct perf_event_attr, bp_addr) ==
                   __builtin_offsetof(struct perf_event_attr, bp_type) + 4 &&
               __builtin_offsetof(struct perf_event_attr, bp_len) ==
                   __builtin_offsetof(struct perf_event_attr, bp_type) + 12,
               "perf_event_attr breakpoint fields are not contiguous");

/* Which event hit: its breakpoint as the event itself holds it (hit_record.h, "chunks"). */
static __always_inline int event_chunk(struct bpf_perf_event_data *ctx, struct hwbp_bpf_chunk_key *key) {
  struct bpf_perf_event_data_kern___hwbp *kern = (void *)ctx;
  struct perf_event___hwbp *event = BPF_CORE_READ(kern, event);
  struct breakpoint_attr bp;
  if (!event || bpf_probe_read_kernel(&bp, sizeof bp, &event->attr.bp_type) != 0) return -1;
  key->addr = bp.addr;
  key->len = (__u32)bp.len;
  key->type = bp.type;
  return 0;
}

static __always_inline void count(__u32 stat) {
  __u64 *v = bpf_map_lookup_elem(&stats, &stat);
  if (v) *v += 1;
}

/* The user registers in DWARF order (hit_record.h, HWBP_BPF_REG_*). */
static __always_inline void copy_regs(__u64 *out, const struct pt_regs *r) {
  out[0] = r->rax;  out[1] = r->rdx;  out[2] = r->rcx;  out[3] = r->rbx;
  out[4] = r->rsi;  out[5] = r->rdi;  out[6] = r->rbp;  out[HWBP_BPF_REG_RSP] = r->rsp;
  out[8] = r->r8;   out[9] = r->r9;   out[10] = r->r10; out[11] = r->r11;
  out[12] = r->r12; out[13] = r->r13; out[14] = r->r14; out[15] = r->r15;
  out[HWBP_BPF_REG_RIP] = r->rip;
}

/* Is this run another chunk of the access the watch last reported (hit_record.h, "accesses")?
 * Otherwise it starts a new access. */
static __always_inline int same_access(struct bpf_perf_event_data *ctx, __u32 index, __u32 part) {
  struct hwbp_bpf_access *a = bpf_map_lookup_elem(&accesses, &index);
  if (!a) return 0;
  __u64 regs[HWBP_BPF_NREGS];
  copy_regs(regs, &ctx->regs);
  __u32 tid = (__u32)bpf_get_current_pid_tgid();
  __u32 bit = 1u << (part & 31);
  int same = a->tid == tid && !(a->parts & bit);
#pragma unroll
  for (int i = 0; i < HWBP_BPF_NREGS; i++)
    if (a->regs[i] != regs[i]) same = 0;
  if (same) {
    a->parts |= bit;
    return 1;
  }
  a->tid = tid;
  a->parts = bit;
#pragma unroll
  for (int i = 0; i < HWBP_BPF_NREGS; i++) a->regs[i] = regs[i];
  return 0;
}

/* The main thread's stack pointer at exec (where argc lies): every frame is below it, and
 * above it are only argv, envp, auxv and their strings, several KB no unwind reads. */
struct mm_struct___hwbp {
  unsigned long start_stack;
} __attribute__((preserve_access_index));
struct thread_struct___hwbp {
  unsigned long fsbase;
} __attribute__((preserve_access_index));
struct task_struct___hwbp {
  struct mm_struct___hwbp *mm;
  struct thread_struct___hwbp thread;
} __attribute__((preserve_access_index));

/* Copies want bytes of user stack from sp, or up to the main thread's initial stack pointer
 * when that is nearer (a shallow frame of the main thread: the copy is then often a few hundred
 * bytes, and the ring holds that many more records).
 * bpf_probe_read_user cannot fault pages in: it fails for a page never touched (the unwritten
 * middle of a large frame) and then zero-fills its destination, which is exactly what such a
 * page holds. So after a failed one-shot read the copy goes on page by page: the frames above
 * the hole still reach the unwinder. */
static __always_inline __u32 copy_stack(struct scratch_record *rec, __u64 sp, __u32 want) {
  if (want > HWBP_BPF_MAX_STACK) want = HWBP_BPF_MAX_STACK;
  struct task_struct___hwbp *task = (void *)bpf_get_current_task();
  __u64 top = BPF_CORE_READ(task, mm, start_stack);
  if (top > sp && top - sp < want) want = (__u32)(top - sp);
  if (want == 0) return 0;
  if (bpf_probe_read_user(rec->stack, want, (const void *)sp) == 0) return want;
  /* 64-bit on purpose: with __u32 clang bounds-checks a zero-extended copy and passes the
   * unchecked register to the helper, which the verifier refuses. */
  __u64 done = 0;
  __u64 chunk = HWBP_BPF_PAGE - (sp & (HWBP_BPF_PAGE - 1));
  for (int i = 0; i < HWBP_BPF_MAX_STACK / HWBP_BPF_PAGE + 1; i++) {
    if (done >= want) break;
    if (chunk > want - done) chunk = want - done;
    /* Bounds the verifier can see: done < MAX_STACK, chunk <= PAGE, and stack[] has a page of
     * slack past MAX_STACK. */
    if (done >= HWBP_BPF_MAX_STACK || chunk == 0 || chunk > HWBP_BPF_PAGE) break;
    bpf_probe_read_user(rec->stack + done, chunk, (const void *)(sp + done));  /* 0s if absent */
    done += chunk;
    chunk = HWBP_BPF_PAGE;
  }
  return (__u32)done;
}

/* Is the value filter passed (core::passes_value_filter's rule: unknown old or new bytes pass
 * every filter)? Updates the shadow with the new bytes either way. Compared as 8 words, not 64
 * bytes: the verifier walks every iteration, and a byte loop made loading take a fifth of a
 * second. Bytes past len stay zero in both the record and the shadow. */
static __always_inline int value_passes(struct hwbp_bpf_hit *h, const struct hwbp_bpf_watch *w,
                                        struct hwbp_bpf_shadow *s) {
  __u32 len = w->len;
  if (len > HWBP_BPF_MAX_VALUE) len = HWBP_BPF_MAX_VALUE;
  if (w->filter == HWBP_BPF_NO_VALUE || len == 0) return 1;
  __u64 *now = (__u64 *)h->new_bytes, *old = (__u64 *)h->old_bytes, *shadow = (__u64 *)s->bytes;
#pragma unroll
  for (int i = 0; i < HWBP_BPF_MAX_VALUE / 8; i++) now[i] = 0;
  /* The read between two locked adds of the watch's counter (hit_record.h). */
  __u32 index = h->watch;
  __u64 *seq = w->count_only ? 0 : bpf_map_lookup_elem(&sequence, &index);  /* no order to count */
  if (seq) h->seq_before = __sync_fetch_and_add(seq, 1);
  if (bpf_probe_read_user(h->new_bytes, len, (const void *)w->addr) == 0)
    h->flags |= HWBP_BPF_NEW_KNOWN;
  if (seq) h->seq_after = __sync_fetch_and_add(seq, 1);
  int unknown = !(h->flags & HWBP_BPF_NEW_KNOWN) || !s->known;
  int changed = 0;
#pragma unroll
  for (int i = 0; i < HWBP_BPF_MAX_VALUE / 8; i++) {
    old[i] = shadow[i];
    if (old[i] != now[i]) changed = 1;
    shadow[i] = now[i];
  }
  if (s->known) h->flags |= HWBP_BPF_OLD_KNOWN;
  s->known = (h->flags & HWBP_BPF_NEW_KNOWN) != 0;
  if (unknown) return 1;
  if (w->filter == HWBP_BPF_CHANGED) return changed;
  if (w->filter == HWBP_BPF_UNCHANGED) return !changed;
  return 1;
}

/* Could another thread's store to the watch's bytes fall between this hit's store and its read,
 * or the previous hit's (hit_record.h, "last_hit")? Then the value filter's verdict on them is
 * not exact: counted in "raced". */
static __always_inline void note_race(__u32 index) {
  __u64 *last = bpf_map_lookup_elem(&last_hit, &index);
  if (!last) return;
  __u64 units = bpf_jiffies64();
  __u64 tid = (__u32)bpf_get_current_pid_tgid();
  __u64 stamp = (units << 34) | ((tid & 0x3fffff) << 12) | (bpf_get_smp_processor_id() & 0xfff);
  __u64 prev = __sync_lock_test_and_set(last, stamp);
  if (prev == 0) return;
  int same_cpu = (prev & 0xfff) == (stamp & 0xfff);
  int same_thread = ((prev >> 12) & 0x3fffff) == ((stamp >> 12) & 0x3fffff);
  __u64 apart = ((stamp >> 34) - (prev >> 34)) & ((1ull << 30) - 1);
  int near = apart <= HWBP_BPF_STAMP_RACE_UNITS || apart >= (1ull << 30) - HWBP_BPF_STAMP_RACE_UNITS;
  if (same_cpu || same_thread || !near) return;
  __u64 *n = bpf_map_lookup_elem(&raced, &index);
  if (n) __sync_fetch_and_add(n, 1);
}

/* A global (not inlined) function: the verifier checks it once, not once per loop iteration of
 * the caller. */
__attribute__((noinline)) int report(struct bpf_perf_event_data *ctx, __u32 index, __u32 part) {
  __u32 zero = 0;
  struct hwbp_bpf_watch *w = bpf_map_lookup_elem(&watches, &index);
  struct hwbp_bpf_shadow *s = bpf_map_lookup_elem(&shadows, &index);
  struct scratch_record *rec = bpf_map_lookup_elem(&scratch, &zero);
  if (!ctx || !w || !s || !rec) return 0;
  if (same_access(ctx, index, part)) return 0;
  struct hwbp_bpf_hit *h = &rec->hit;
  h->flags = 0;
  h->watch = index;
  h->seq_before = h->seq_after = 0;
  const int counted_filter = w->count_only && w->filter != HWBP_BPF_EVERY && w->filter != HWBP_BPF_NO_VALUE;
  if (counted_filter) note_race(index);
  if (!value_passes(h, w, s)) {
    count(HWBP_BPF_STAT_FILTERED);
    return 0;
  }
  if (w->count_only) {
    /* --count: the hit is only a number per (watch, line); no record crosses to userspace. */
    struct hwbp_bpf_count_key key = {.watch = index, .ip = ctx->regs.rip};
    __u64 one = 1, *n = bpf_map_lookup_elem(&counts, &key);
    if (n) __sync_fetch_and_add(n, 1);
    else if (bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST) != 0) {
      n = bpf_map_lookup_elem(&counts, &key);  /* another CPU inserted it meanwhile */
      if (n) __sync_fetch_and_add(n, 1);
      else count(HWBP_BPF_STAT_COUNTS_FULL);
    }
    return 0;
  }
  h->time_ns = bpf_ktime_get_ns();
  h->tid = (__u32)bpf_get_current_pid_tgid();
  h->bp_addr = ctx->addr;
  h->cpu = bpf_get_smp_processor_id();
  h->rflags = ctx->regs.eflags;
  struct task_struct___hwbp *task = (void *)bpf_get_current_task();
  h->fs_base = BPF_CORE_READ(task, thread.fsbase);
  copy_regs(h->regs, &ctx->regs);
  h->stack_size = w->stack_bytes ? copy_stack(rec, ctx->regs.rsp, w->stack_bytes) : 0;
  __u64 size = sizeof(struct hwbp_bpf_hit) + h->stack_size;
  if (size > sizeof(struct hwbp_bpf_hit) + HWBP_BPF_MAX_STACK)
    size = sizeof(struct hwbp_bpf_hit) + HWBP_BPF_MAX_STACK;
  /* No wakeup: hwbp polls the ring on a timer. A wakeup per hit would add an irq_work to every
   * hit of the watched program. */
  if (bpf_ringbuf_output(&hits, rec, size, BPF_RB_NO_WAKEUP) != 0) count(HWBP_BPF_STAT_LOST);
  return 0;
}

SEC("perf_event")
int hwbp_on_hit(struct bpf_perf_event_data *ctx) {
  count(HWBP_BPF_STAT_SEEN);
  struct hwbp_bpf_chunk_key key = {};
  if (event_chunk(ctx, &key) != 0) {
    count(HWBP_BPF_STAT_UNMAPPED);
    return 0;
  }
  struct hwbp_bpf_chunk *c = bpf_map_lookup_elem(&chunks, &key);
  if (!c) {
    count(HWBP_BPF_STAT_UNMAPPED);
    return 0;
  }
  for (__u32 i = 0; i < HWBP_BPF_WATCHES_PER_CHUNK; i++) {
    if (i >= c->count) break;
    report(ctx, c->watch[i], c->part[i]);
  }
  return 0;
}

char LICENSE[] SEC("license") = "GPL";
