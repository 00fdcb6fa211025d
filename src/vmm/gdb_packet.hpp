// The GDB remote serial protocol's byte level (GDB manual, "Overview" of Remote Protocol):
// packets `$payload#cs` (cs = two hex digits, the sum of the payload bytes mod 256), `+`/`-`
// acknowledgements, the Ctrl-C byte 0x03 as an interrupt, `}` escapes (next byte XOR 0x20) for
// `#`, `$`, `}` and `*`, and run-length encoding (`X*n`: repeat X n-29 more times) that a client
// may use. Pure: bytes in, items out; used by the stub (gdb_stub.hpp) and unit-tested alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hwbp::vmm::gdb {

// "$payload#cs" with the bytes that must be escaped escaped.
std::string frame(std::string_view payload);

struct Item {
  enum class Kind : std::uint8_t {
    packet,        // a well-formed packet: payload (unescaped, RLE expanded)
    interrupt,     // 0x03 outside a packet
    ack,           // '+'
    nack,          // '-': resend the last reply
    bad_checksum,  // a packet whose checksum does not match: answer '-'
  };
  Kind kind = Kind::packet;
  std::string payload;
};

// Splits a byte stream into items, across reads of any size. Bytes between packets other than
// '+', '-' and 0x03 are ignored (line noise, as GDB's own stub does).
class PacketReader {
 public:
  void feed(std::string_view bytes);
  std::optional<Item> next();
  // A packet larger than this is dropped as bad (the stub announces it in PacketSize).
  static constexpr std::size_t kMaxPacket = 0x4000;

 private:
  std::string buffer_;
};

// Hex helpers of the protocol: bytes as two lowercase digits each, numbers as big-endian hex
// text ("1f"), register values as target-order (little-endian) bytes.
std::string to_hex(std::span<const std::uint8_t> bytes);
std::optional<std::vector<std::uint8_t>> from_hex(std::string_view text);
std::optional<std::uint64_t> parse_number(std::string_view text);  // hex, at most 16 digits
std::string number(std::uint64_t value);                            // hex, no leading zeros
std::string le_hex(std::uint64_t value, std::size_t bytes);         // register encoding
std::optional<std::uint64_t> parse_le_hex(std::string_view text);   // register decoding
// Binary data of an X packet: `}` escapes undone.
std::vector<std::uint8_t> unescape_binary(std::string_view data);

}  // namespace hwbp::vmm::gdb
