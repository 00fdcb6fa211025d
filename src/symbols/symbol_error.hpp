// Typed errors of the symbols layer. Derives from hwbp::Error (header-only use) so a caller can
// catch one type for the whole library, and adds a finer code plus "did you mean" suggestions.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "hwbp/error.hpp"

namespace hwbp::symbols {

enum class SymbolErrc {
  not_found,     // no module defines the name
  ambiguous,     // several local (static) definitions with the same name and no global one
  bad_spec,      // "NAME+OFFSET" does not parse, or the offset leaves the symbol
  unsupported,   // e.g. a thread-local variable: its address differs per thread
  needs_memory,  // an expression follows a pointer, and no process memory may be read
  no_process,    // the pid is gone or /proc/PID/maps is unreadable
  unreadable,    // process memory could not be read (permissions, unmapped)
  backend,       // libdw/libelf failed for another reason
};

class SymbolError : public hwbp::Error {
 public:
  SymbolError(SymbolErrc code, std::string message, std::vector<std::string> suggestions = {},
              int sys_errno = 0)
      : hwbp::Error(to_core(code), std::move(message), sys_errno),
        code_(code),
        suggestions_(std::move(suggestions)) {}

  SymbolErrc symbol_code() const noexcept { return code_; }
  // Close names for a not_found error (best first); empty otherwise.
  const std::vector<std::string>& suggestions() const noexcept { return suggestions_; }

 private:
  static hwbp::Errc to_core(SymbolErrc code) noexcept {
    switch (code) {
      case SymbolErrc::no_process: return hwbp::Errc::no_such_thread;
      case SymbolErrc::unreadable: return hwbp::Errc::permission;
      case SymbolErrc::unsupported:
      case SymbolErrc::needs_memory: return hwbp::Errc::unsupported;
      case SymbolErrc::backend: return hwbp::Errc::system;
      default: return hwbp::Errc::invalid_request;
    }
  }

  SymbolErrc code_;
  std::vector<std::string> suggestions_;
};

}  // namespace hwbp::symbols
