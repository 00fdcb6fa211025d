// Vocabulary types shared by every layer of hwbp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace hwbp {

// What a watch reacts to, in user terms.
//  - exec:       instruction fetch at the address.
//  - write:      every write, even one that stores the same value.
//  - read_write: any data access.
//  - read:       reads only. x86 has no read-only debug register, so on x86 this is
//                emulated as read_write minus the hits that changed the value
//                (a same-value write is reported as a read; see docs/semantics.md).
//  - modify:     writes that change the watched bytes (GDB's and LLDB's default).
enum class Access : std::uint8_t { exec, write, read_write, read, modify };

enum class ArchKind : std::uint8_t { x86_64, aarch64 };

// "x", "w", "rw", "r", "modify" (also "exec", "write", "read_write", "read").
std::optional<Access> parse_access(std::string_view text) noexcept;
// Short name: "x", "w", "rw", "r", "modify".
const char* to_string(Access access) noexcept;
const char* to_string(ArchKind arch) noexcept;

}  // namespace hwbp
