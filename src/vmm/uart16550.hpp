// A 16550 UART as far as a polling guest needs it (COM1 at 0x3F8 under `hwbp vm`): bytes written
// to the transmit register are the guest's output; the line status always says "transmitter
// empty" so a polling driver never waits; the divisor latch (LCR.DLAB) hides the baud-rate bytes
// from the output. No interrupts, no input. Pure: the caller passes port accesses in.
// Register map: National Semiconductor PC16550D datasheet, table "Register summary".
#pragma once

#include <cstdint>
#include <functional>

namespace hwbp::vmm {

class Uart16550 {
 public:
  static constexpr std::uint16_t kCom1 = 0x3f8;
  static constexpr std::uint16_t kPorts = 8;
  using Output = std::function<void(std::uint8_t)>;

  explicit Uart16550(Output output, std::uint16_t base = kCom1) : output_(std::move(output)), base_(base) {}
  bool owns(std::uint16_t port) const noexcept { return port >= base_ && port < base_ + kPorts; }
  void write(std::uint16_t port, std::uint8_t value);
  std::uint8_t read(std::uint16_t port) const;

 private:
  bool dlab() const noexcept { return lcr_ & 0x80; }
  Output output_;
  std::uint16_t base_;
  std::uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scratch_ = 0, fcr_ = 0;
  std::uint8_t divisor_low_ = 0x0c, divisor_high_ = 0;
};

}  // namespace hwbp::vmm
