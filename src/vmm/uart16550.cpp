#include "vmm/uart16550.hpp"

namespace hwbp::vmm {
namespace {
enum Register : std::uint16_t { data = 0, ier = 1, iir_fcr = 2, lcr = 3, mcr = 4, lsr = 5, msr = 6, scratch = 7 };
constexpr std::uint8_t kLsrTransmitterEmpty = 0x60;  // THRE | TEMT
constexpr std::uint8_t kIirNoInterrupt = 0x01;
constexpr std::uint8_t kIirFifosEnabled = 0xc0;
constexpr std::uint8_t kMsrCarrierDsrCts = 0xb0;  // DCD | DSR | CTS: a line that is up
}  // namespace

void Uart16550::write(std::uint16_t port, std::uint8_t value) {
  switch (static_cast<Register>(port - base_)) {
    case data:
      if (dlab()) divisor_low_ = value;
      else if (output_) output_(value);
      break;
    case ier:
      if (dlab()) divisor_high_ = value;
      else ier_ = value & 0x0f;
      break;
    case iir_fcr: fcr_ = value; break;
    case lcr: lcr_ = value; break;
    case mcr: mcr_ = value & 0x1f; break;
    case scratch: scratch_ = value; break;
    default: break;  // LSR and MSR are read-only
  }
}

std::uint8_t Uart16550::read(std::uint16_t port) const {
  switch (static_cast<Register>(port - base_)) {
    case data: return dlab() ? divisor_low_ : 0;  // no input ever arrives
    case ier: return dlab() ? divisor_high_ : ier_;
    case iir_fcr: return kIirNoInterrupt | ((fcr_ & 1) ? kIirFifosEnabled : 0);
    case lcr: return lcr_;
    case mcr: return mcr_;
    case lsr: return kLsrTransmitterEmpty;
    case msr: return kMsrCarrierDsrCts;
    case scratch: return scratch_;
  }
  return 0xff;
}

}  // namespace hwbp::vmm
