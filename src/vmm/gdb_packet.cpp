#include "vmm/gdb_packet.hpp"

#include <fmt/format.h>

namespace hwbp::vmm::gdb {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool needs_escape(char c) { return c == '#' || c == '$' || c == '}' || c == '*'; }

// Undo escapes and run-length encoding of a packet body; nullopt when malformed or longer than
// `limit` once expanded (each `*` may add 97 bytes: a hostile client must not make the stub
// allocate ~100 times what it sent).
std::optional<std::string> decode_body(std::string_view raw, std::size_t limit) {
  std::string out;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (out.size() > limit) return std::nullopt;
    const char c = raw[i];
    if (c == '}') {
      if (++i == raw.size()) return std::nullopt;
      out.push_back(static_cast<char>(raw[i] ^ 0x20));
    } else if (c == '*') {
      // "X*n": X repeated n - 29 more times (n printable, 29 < n; GDB avoids '#' and '$').
      if (out.empty() || ++i == raw.size()) return std::nullopt;
      const int n = static_cast<unsigned char>(raw[i]) - 29;
      if (n < 0) return std::nullopt;
      out.append(static_cast<std::size_t>(n), out.back());
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::string frame(std::string_view payload) {
  std::string out = "$";
  unsigned sum = 0;
  for (char c : payload) {
    if (needs_escape(c)) {
      out.push_back('}');
      sum += '}';
      c = static_cast<char>(c ^ 0x20);
    }
    out.push_back(c);
    sum += static_cast<unsigned char>(c);
  }
  return out + fmt::format("#{:02x}", sum & 0xff);
}

void PacketReader::feed(std::string_view bytes) { buffer_.append(bytes); }

std::optional<Item> PacketReader::next() {
  while (!buffer_.empty()) {
    const char c = buffer_.front();
    if (c == '+' || c == '-' || c == '\x03') {
      buffer_.erase(0, 1);
      return Item{c == '+' ? Item::Kind::ack : c == '-' ? Item::Kind::nack : Item::Kind::interrupt, {}};
    }
    if (c != '$') {
      buffer_.erase(0, 1);
      continue;
    }
    const std::size_t hash = buffer_.find('#');
    if (hash == std::string::npos) {
      if (buffer_.size() > kMaxPacket + 4) {
        buffer_.clear();
        return Item{Item::Kind::bad_checksum, {}};
      }
      return std::nullopt;  // wait for the rest
    }
    if (buffer_.size() < hash + 3) return std::nullopt;
    const std::string_view raw(buffer_.data() + 1, hash - 1);
    unsigned sum = 0;
    for (char b : raw) sum += static_cast<unsigned char>(b);
    const int hi = hex_digit(buffer_[hash + 1]), lo = hex_digit(buffer_[hash + 2]);
    auto body = decode_body(raw, kMaxPacket);
    const bool good = hi >= 0 && lo >= 0 && static_cast<unsigned>(hi * 16 + lo) == (sum & 0xff) && body &&
                      body->size() <= kMaxPacket;
    buffer_.erase(0, hash + 3);
    if (!good) return Item{Item::Kind::bad_checksum, {}};
    return Item{Item::Kind::packet, std::move(*body)};
  }
  return std::nullopt;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

std::optional<std::vector<std::uint8_t>> from_hex(std::string_view text) {
  if (text.size() % 2) return std::nullopt;
  std::vector<std::uint8_t> out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int hi = hex_digit(text[i]), lo = hex_digit(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
  }
  return out;
}

std::optional<std::uint64_t> parse_number(std::string_view text) {
  if (text.empty() || text.size() > 16) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : text) {
    const int d = hex_digit(c);
    if (d < 0) return std::nullopt;
    v = v << 4 | static_cast<std::uint64_t>(d);
  }
  return v;
}

std::string number(std::uint64_t value) { return fmt::format("{:x}", value); }

std::string le_hex(std::uint64_t value, std::size_t bytes) {
  std::vector<std::uint8_t> b(bytes, 0);
  for (std::size_t i = 0; i < bytes && i < 8; ++i) b[i] = static_cast<std::uint8_t>(value >> (8 * i));
  return to_hex(b);
}

std::optional<std::uint64_t> parse_le_hex(std::string_view text) {
  auto bytes = from_hex(text);
  if (!bytes || bytes->empty() || bytes->size() > 8) return std::nullopt;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < bytes->size(); ++i) v |= std::uint64_t{(*bytes)[i]} << (8 * i);
  return v;
}

std::vector<std::uint8_t> unescape_binary(std::string_view data) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < data.size(); ++i) {
    if (data[i] == '}' && i + 1 < data.size()) out.push_back(static_cast<std::uint8_t>(data[++i] ^ 0x20));
    else out.push_back(static_cast<std::uint8_t>(data[i]));
  }
  return out;
}

}  // namespace hwbp::vmm::gdb
