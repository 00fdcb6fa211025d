// Store analysis of one x86-64 instruction, from its bytes and the registers BEFORE it runs: the
// memory it writes and how an engine that owns that memory (the page-protection engine: the page
// is read-only and must stay so) can complete it exactly.
//
//   emulate     the new bytes and the registers after it, computed here (mov-family and SSE/AVX
//               stores, push, pushf, call, pop to memory, xchg, setcc, bts/btr/btc, stos and
//               movs with or without rep, DF honoured). String instructions are resolved in
//               batches of at most Options::max_string_bytes: the registers after a partial batch
//               leave rip on the instruction with rcx/rdi/rsi advanced, exactly as an interrupted
//               rep instruction (Intel SDM vol. 2, REP: "interrupted ... resumed").
//   displace    everything else that writes an explicit memory operand (arithmetic and logic with
//               flags, lock RMW, xadd, cmpxchg, cmpxchg16b, x87/SSE stores with side effects...):
//               the instruction re-encoded (Zydis encoder) with that operand replaced by a
//               rip-relative operand to a scratch data address, to be single-stepped at a scratch
//               code address with the thread's real registers; the engine copies the operand's
//               real bytes in before and the written bytes back after.
//   unsupported the reason (scatter stores, 32-bit addressing, enter, ...): the engine's last
//               resort.
//
// Pure: no syscalls, no allocation, no exceptions — callable from a signal handler.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "decode/registers.hpp"

namespace hwbp::decode {

enum class Resolution : std::uint8_t { emulate, displace, unsupported, no_write };
const char* to_string(Resolution r) noexcept;

// The bytes an instruction writes: one contiguous range per instruction (x86 has no instruction
// writing two disjoint ranges other than scatters, which are refused). size may be 0 (rep with
// rcx = 0).
struct MemoryWrite {
  std::uint64_t addr = 0;
  std::uint64_t size = 0;
};

// Where the new bytes of an emulated store come from.
enum class Source : std::uint8_t {
  bytes,  // Emulation::bytes[0 .. write.size) (write.size <= 64)
  fill,   // stos: fill_value's low element_size bytes, repeated over the write
  copy,   // movs: write.size bytes from copy_from (the lowest source address); the batch is
          // limited so that source and destination do not overlap in a way that makes a
          // sequential copy differ from a snapshot copy
};

struct Emulation {
  Source source = Source::bytes;
  std::array<std::uint8_t, 64> bytes{};
  std::uint64_t fill_value = 0;
  std::uint8_t element_size = 0;
  std::uint64_t copy_from = 0;
  Registers after;  // every register after the instruction (or after this batch of it)
};

struct Displacement {
  std::uint64_t operand_addr = 0;  // the real memory operand (== write.addr)
  std::uint32_t operand_size = 0;  // bytes copied to and from the scratch data area
  std::uint64_t data_addr = 0;     // where the operand is placed: scratch data + (addr % 64)
  std::array<std::uint8_t, 15> code{};  // the re-encoded instruction, for the scratch code address
  std::uint8_t code_length = 0;
  std::uint64_t next_rip = 0;      // rip to resume at after the step (the original next one)
};

struct StoreAnalysis {
  Resolution resolution = Resolution::unsupported;
  std::uint8_t length = 0;  // of the original instruction
  MemoryWrite write;
  Emulation emulation;      // resolution == emulate
  Displacement displacement;  // resolution == displace
  const char* reason = "";  // resolution == unsupported: a static string
};

struct Options {
  // Scratch areas for the displaced step; code == 0: no displacement (analysis says displace
  // without bytes). Data must have 64-byte alignment and room for offset + operand (4 KiB + 64
  // covers every operand) within +-2 GiB of code.
  std::uint64_t scratch_code = 0;
  std::uint64_t scratch_data = 0;
  // Largest batch of a string instruction resolved at once (at least one element).
  std::uint64_t max_string_bytes = 1u << 20;
};

StoreAnalysis analyze_store(std::span<const std::uint8_t> code, const Registers& before,
                            const VectorState& vectors, const MemoryReader& memory,
                            const Options& options = {}) noexcept;

// Applies an emulation's new bytes for a write of at most 64 bytes (Source::bytes) or a fill to
// a caller buffer covering [write.addr, write.addr + size): for tests and small transports.
void render_fill(const Emulation& e, std::uint64_t offset, std::uint8_t* out, std::size_t len) noexcept;

}  // namespace hwbp::decode
