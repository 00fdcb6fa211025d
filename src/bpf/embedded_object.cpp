// The compiled watch_hit.bpf.o, linked into the binary so that hwbp needs no file at run time.
// HWBP_BPF_OBJECT is its path in the build tree (set by CMake, which also rebuilds this file
// when the object changes).
#include "bpf/embedded_object.hpp"

asm(".pushsection .rodata\n"
    ".balign 8\n"
    "hwbp_bpf_object_begin:\n"
    ".incbin \"" HWBP_BPF_OBJECT "\"\n"
    "hwbp_bpf_object_end:\n"
    ".popsection\n");

extern "C" const unsigned char hwbp_bpf_object_begin[];
extern "C" const unsigned char hwbp_bpf_object_end[];

namespace hwbp::bpf {

std::span<const unsigned char> embedded_object() {
  return {hwbp_bpf_object_begin, static_cast<std::size_t>(hwbp_bpf_object_end - hwbp_bpf_object_begin)};
}

}  // namespace hwbp::bpf
