// The command line's way of naming one watch, shared by every hwbp subcommand:
//
//   LOCATION[:LEN][:ACCESS]      hwbp's form
//     LOCATION  0xADDR | NAME | NAME+OFFSET   (OFFSET decimal or 0x-hex)
//               | EXPR: a C/C++ expression over the program's DWARF types, e.g. cfg.retries,
//               arr[7], p->next->value, &var, *(long *)0x1000, (struct foo *)0x1000
//               (symbols/location_expression.hpp); spaces allowed (quote it in the shell)
//     LEN       bytes, decimal or 0x-hex. Default: 8 for an address, 1 for ACCESS x, and for a
//               NAME or EXPR "unset" (the resolver uses the symbol's or the type's size)
//     ACCESS    modify (default) | w | rw | r | x   (also write, read_write, read, exec)
//   mem:ADDR[/LEN][:ACCESS]      perf's form (perf record -e mem:...), with perf's defaults:
//     ACCESS    r | w | x | rw (or wr); default rw.  LEN default 4 (x: 1, one instruction)
//     (so a symbol literally named "mem" is written "mem+0:..." to keep hwbp's form)
//
// Parsing is syntax only: range rules (alignment, kernel addresses, ...) belong to
// core::validate_range, and names are resolved by the symbols layer (watch_set.hpp). CLI-only:
// the library takes addresses, not spec strings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/request.hpp"
#include "hwbp/types.hpp"

namespace hwbp::cli {

struct WatchSpec {
  enum class Kind : std::uint8_t { address, symbol, expression, source_line };
  std::string text;               // the spec exactly as the user typed it (for messages)
  Kind kind = Kind::address;
  std::uintptr_t addr = 0;        // Kind::address
  std::string symbol;             // Kind::symbol; Kind::expression: the expression
  std::uint64_t offset = 0;       // Kind::symbol: bytes after the symbol's start
  std::string file;               // Kind::source_line (--break FILE:LINE)
  int line = 0;                   // Kind::source_line
  std::size_t len = 0;            // 0 only for a name or expression without LEN (its size)
  bool len_given = false;         // false: len is a default (commands say so)
  Access access = Access::modify;
  bool perf_form = false;         // written as mem:ADDR...

  // The request for an address spec (Kind::address only).
  core::WatchRequest request() const { return core::WatchRequest{addr, len, access}; }
  // Resolved in the program (a name or an expression), not a number.
  bool by_name() const noexcept { return kind != Kind::address; }
};

// Default length of an address watch without LEN in hwbp's form (one 64-bit word).
inline constexpr std::size_t kDefaultAddressLen = 8;
// perf's default bp_len for data breakpoints (HW_BREAKPOINT_LEN_4).
inline constexpr std::size_t kPerfDefaultLen = 4;

// Throws hwbp::Error(Errc::invalid_request) with one line naming the spec and what is wrong,
// e.g. "watch spec '0x10:zz': 'zz' is neither a length nor an access; ...".
WatchSpec parse_watch_spec(std::string_view text);

// `--break LOCATION`: an execute watch (one instruction) at NAME, NAME+OFF, FILE:LINE or 0xADDR,
// as `hwbp vm --break` and GDB's `hbreak` take it. NAME is the function's first instruction
// (GDB's `break` would skip the prologue); FILE:LINE the line's first statement (a FILE with a
// ':' in it cannot be named). The spec's text is "LOCATION:x", as a --watch of the same
// breakpoint. Throws hwbp::Error(Errc::invalid_request) with one line.
WatchSpec parse_break_spec(std::string_view text);

}  // namespace hwbp::cli
