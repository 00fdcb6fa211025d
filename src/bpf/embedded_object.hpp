// The BPF object file (ELF) of watch_hit.bpf.c, embedded at build time.
#pragma once

#include <span>

namespace hwbp::bpf {

std::span<const unsigned char> embedded_object();

}  // namespace hwbp::bpf
