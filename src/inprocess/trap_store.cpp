#include "inprocess/trap_store.hpp"

#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "decode/signal_frame.hpp"
#include "decode/stored_value.hpp"
#include "decode/zydis_support.hpp"

namespace hwbp::inprocess {
namespace {

constexpr unsigned kMaxInsn = 15;  // Intel SDM vol. 2, 2.3.11

// The frame's registers plus fs_base, which the frame does not hold.
decode::Registers registers_of(const ucontext_t* uc) noexcept {
  decode::Registers r = decode::registers_of(uc);
  // The handler runs in the interrupted thread: its thread pointer is the same. glibc keeps it
  // at %fs:0 (the TCB's self pointer, x86-64 TLS ABI), which is what fs_base holds.
  std::uint64_t fs = 0;
  asm volatile("mov %%fs:0, %0" : "=r"(fs));
  r.fs_base = fs;
  return r;
}

// The code bytes before ip. Directly when they share ip-1's page (mapped: it holds the
// instruction that trapped), else through the kernel, which fails instead of faulting.
bool read_code(std::uint64_t ip, std::uint8_t (&out)[kMaxInsn]) noexcept {
  const std::uint64_t from = ip - kMaxInsn;
  constexpr std::uint64_t page = 4096;  // x86-64's base page: a code page is at least this
  if (from / page == (ip - 1) / page) {
    std::memcpy(out, reinterpret_cast<const void*>(from), kMaxInsn);
    return true;
  }
  iovec local{out, kMaxInsn};
  iovec remote{reinterpret_cast<void*>(from), kMaxInsn};
  return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(kMaxInsn);
}

bool writes_chunk(const decode::StoredValue& v, const core::Chunk& c) noexcept {
  return v.address_known && v.write.size > 0 && v.write.addr < c.addr + c.len && c.addr < v.write.addr + v.write.size;
}

// The length of the storing instruction that ends at each trap ip, found once per ip (a loop
// traps at the same ip again and again). Direct-mapped; a lost race only costs a decode.
struct LengthCache {
  static constexpr std::size_t kSize = 256;
  std::atomic<std::uint64_t> ip[kSize];
  std::atomic<std::uint8_t> length[kSize];  // 0: none found
};
LengthCache g_lengths;

}  // namespace

std::uint64_t TrapStore::apply(std::uint64_t old) const noexcept {
  return decode::apply_rmw(static_cast<decode::Rmw>(op), old, operand, size);
}

TrapStore trap_store(const core::Chunk& chunk, const void* ucontext) noexcept {
  TrapStore out;
  const auto* uc = static_cast<const ucontext_t*>(ucontext);
  const decode::Registers regs = registers_of(uc);
  const decode::VectorState vectors = decode::vectors_of(uc);
  std::uint8_t code[kMaxInsn];
  if (!read_code(regs.rip, code)) return out;
  const std::size_t slot = (regs.rip ^ (regs.rip >> 8)) % LengthCache::kSize;
  unsigned length = 0;
  if (g_lengths.ip[slot].load(std::memory_order_acquire) == regs.rip) length = g_lengths.length[slot].load(std::memory_order_relaxed);
  decode::StoredValue found;
  if (length != 0) {
    found = decode::stored_value_after({code + kMaxInsn - length, length}, regs.rip - length, regs, vectors);
    if (!writes_chunk(found, chunk)) return out;
  } else {
    // The decodings that end exactly at ip and write the chunk. A prefixed instruction always
    // has a shorter one inside it (`48 89 05 d` mov [rip+d], rax ends in `89 05 d`, mov [rip+d],
    // eax, to the same address): the longest is taken when the others are it without some of
    // its prefixes (a previous instruction ending in a byte that reads as a prefix is the case
    // this gets wrong); any other ambiguity is unknown.
    unsigned prefixes = 0;
    for (unsigned len = kMaxInsn; len >= 1; --len) {
      decode::Decoded d;
      if (!decode::decode64({code + kMaxInsn - len, len}, d) || d.insn.length != len) continue;
      decode::StoredValue v = decode::stored_value_after({code + kMaxInsn - len, len}, regs.rip - len, regs, vectors);
      if (!writes_chunk(v, chunk)) continue;
      if (length == 0) {
        length = len;
        found = v;
        prefixes = d.insn.raw.prefix_count;
      } else if (length - len > prefixes) {
        return out;  // ambiguous
      }
    }
    if (length == 0) return out;
    g_lengths.ip[slot].store(0, std::memory_order_relaxed);
    g_lengths.length[slot].store(static_cast<std::uint8_t>(length), std::memory_order_relaxed);
    g_lengths.ip[slot].store(regs.rip, std::memory_order_release);
  }
  // The chunk's bytes only when the write covers the whole chunk.
  if (found.write.addr > chunk.addr || found.write.addr + found.write.size < chunk.addr + chunk.len) return out;
  const std::size_t from = chunk.addr - found.write.addr;
  if (found.rmw != decode::Rmw::none) {
    if (found.write.addr != chunk.addr || found.write.size != chunk.len || chunk.len > 8) return out;
    out.rmw = true;
    out.op = static_cast<std::uint8_t>(found.rmw);
    out.size = static_cast<std::uint8_t>(chunk.len);
    out.operand = found.operand;
    return out;
  }
  if (found.write.size > 32) return out;
  if (found.new_known) {
    out.new_known = true;
    std::memcpy(&out.new_value, found.new_bytes.data() + from, chunk.len);
  }
  if (found.old_known) {
    out.old_known = true;
    std::memcpy(&out.old_value, found.old_bytes.data() + from, chunk.len);
  }
  return out;
}

}  // namespace hwbp::inprocess
