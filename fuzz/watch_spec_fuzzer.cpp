// libFuzzer target: the CLI's watch specs (tools/hwbp/watch_spec.hpp), LOCATION[:LEN][:ACCESS]
// and perf's mem:ADDR[/LEN][:ACCESS], as a user types them. Any text either parses into a spec
// that keeps the grammar's promises or is refused with hwbp::Error(invalid_request) naming it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "hwbp/error.hpp"
#include "watch_spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const hwbp::cli::WatchSpec s = hwbp::cli::parse_watch_spec(text);
    if (s.text != text) std::abort();
    if (s.kind == hwbp::cli::WatchSpec::Kind::address && s.len == 0) std::abort();
    if (s.kind == hwbp::cli::WatchSpec::Kind::symbol && s.symbol.empty()) std::abort();
    // An execute watch in hwbp's form covers one instruction (issue 12: no silent length).
    if (s.access == hwbp::Access::exec && !s.perf_form && s.len != 1) std::abort();
    if (s.len_given && s.len == 0) std::abort();
  } catch (const hwbp::Error& e) {
    if (e.code() != hwbp::Errc::invalid_request) std::abort();
    if (std::string(e.what()).find("watch spec '") != 0) std::abort();
    if (std::string(e.what()).find('\n') != std::string::npos) std::abort();  // one line
  }
  return 0;
}
