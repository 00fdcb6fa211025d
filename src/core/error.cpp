#include "hwbp/error.hpp"

namespace hwbp {

const char* to_string(Errc code) noexcept {
  switch (code) {
    case Errc::invalid_request:
      return "invalid_request";
    case Errc::no_slots:
      return "no_slots";
    case Errc::permission:
      return "permission";
    case Errc::no_such_thread:
      return "no_such_thread";
    case Errc::unsupported:
      return "unsupported";
    case Errc::invalid_state:
      return "invalid_state";
    case Errc::system:
      return "system";
  }
  return "unknown";
}

}  // namespace hwbp
