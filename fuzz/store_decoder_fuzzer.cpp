// libFuzzer target: the page engine's store decoder (src/decode): analyze_store and
// stored_value_after over any 15 instruction bytes, any registers, any XSAVE area and any memory.
// The instruction bytes are the watched program's code, its registers and memory are the
// program's: all outside input. Layout of the input: 15 code bytes, then Registers, then the
// scratch-area choice, then the XSAVE area (up to 832 bytes), then memory served to the reader.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "decode/store_analysis.hpp"
#include "decode/stored_value.hpp"

using namespace hwbp::decode;

namespace {

struct Memory {
  std::span<const std::uint8_t> bytes;
};

// Any address reads the fuzzer's bytes from (addr mod size): the decoder must cope with every
// value memory can hold, and with reads that fail (an empty memory).
bool read_memory(void* ctx, std::uint64_t addr, void* out, std::size_t len) {
  const auto& m = *static_cast<const Memory*>(ctx);
  if (m.bytes.empty() || len > 4096) return false;
  auto* dst = static_cast<std::uint8_t*>(out);
  for (std::size_t i = 0; i < len; ++i) dst[i] = m.bytes[(addr + i) % m.bytes.size()];
  return true;
}

template <class T>
void take(const std::uint8_t*& data, std::size_t& size, T& out) {
  std::size_t n = std::min(size, sizeof out);
  std::memcpy(&out, data, n);
  data += n;
  size -= n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::uint8_t code[15] = {};
  std::size_t code_len = std::min<std::size_t>(size, sizeof code);
  std::memcpy(code, data, code_len);
  data += code_len;
  size -= code_len;
  Registers regs;
  take(data, size, regs);
  std::uint8_t scratch = 0;
  take(data, size, scratch);
  std::uint8_t xsave[832] = {};
  std::size_t xsave_len = std::min<std::size_t>(size, sizeof xsave);
  std::memcpy(xsave, data, xsave_len);
  data += xsave_len;
  size -= xsave_len;
  Memory memory{{data, size}};

  const VectorState vectors{xsave, (scratch & 1) ? sizeof xsave : (scratch & 2) ? 512 : xsave_len};
  const MemoryReader reader{read_memory, &memory};
  Options options;
  if (scratch & 4) {
    options.scratch_code = regs.rip & ~std::uint64_t{0xfff};
    options.scratch_data = (regs.rip + 0x10000) & ~std::uint64_t{63};
  }
  options.max_string_bytes = 1 + (scratch >> 3) * 64;

  const StoreAnalysis a = analyze_store({code, code_len}, regs, vectors, reader, options);
  if (a.length > 15) std::abort();
  if (a.resolution == Resolution::emulate && a.emulation.source == Source::bytes &&
      a.write.size > a.emulation.bytes.size())
    std::abort();
  if (a.resolution == Resolution::displace && a.displacement.code_length > a.displacement.code.size())
    std::abort();
  if (a.resolution == Resolution::unsupported && a.reason == nullptr) std::abort();
  if (a.resolution == Resolution::emulate && a.emulation.source == Source::fill) {
    std::uint8_t out[64];
    render_fill(a.emulation, 0, out, std::min<std::uint64_t>(a.write.size, sizeof out));
  }

  const StoredValue v = stored_value_after({code, code_len}, regs.rip, regs, vectors);
  if ((v.new_known || v.old_known) && v.write.size > v.new_bytes.size()) std::abort();
  return 0;
}
