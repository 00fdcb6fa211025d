// libFuzzer target: the BPF delivery's hit records (src/bpf/hit_record_decoder.hpp) as they come
// out of the ring buffer, and what hwbp does with one: unwinding its registers and stack copy
// (src/symbols/snapshot_unwinder.hpp). The record's registers and stack are the writing thread's,
// so they are outside input: here they are unwound against this fuzzer's own process image.
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "bpf/hit_record_decoder.hpp"
#include "symbols/snapshot_unwinder.hpp"
#include "symbols/symbol_error.hpp"

namespace {

hwbp::symbols::ProcessImage& own_image() {
  static std::shared_ptr<hwbp::symbols::ProcessImage> image = hwbp::symbols::ProcessImage::open(0);
  return *image;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto record = hwbp::bpf::decode_hit_record({data, size});
  if (!record) {
    if (size >= sizeof(hwbp_bpf_hit)) std::abort();
    return 0;
  }
  // The stack lies inside the record's own bytes, and says how much of it there is.
  if (record->stack.data() != data + sizeof(hwbp_bpf_hit)) std::abort();
  if (record->stack.size() > size - sizeof(hwbp_bpf_hit)) std::abort();
  if (record->hit.stack_size != record->stack.size()) std::abort();

  hwbp::symbols::StackSnapshot snap;
  snap.tid = getpid();
  std::copy(std::begin(record->hit.regs), std::end(record->hit.regs), snap.regs.begin());
  snap.stack_start = record->hit.regs[HWBP_BPF_REG_RSP];
  snap.bytes = record->stack.data();
  snap.size = record->stack.size();
  try {
    auto frames = hwbp::symbols::backtrace_snapshot(own_image(), snap, 16);
    if (frames.size() > 16) std::abort();
  } catch (const hwbp::symbols::SymbolError&) {
    // libdwfl refused the registers before any frame: a documented outcome.
  }
  return 0;
}
