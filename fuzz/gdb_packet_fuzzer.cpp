// libFuzzer target: the GDB remote protocol's byte level (src/vmm/gdb_packet.hpp), fed whatever
// a debugger — or anything else that connects to `hwbp vm --gdb` — could send. Promises checked:
//  - the reader's items do not depend on how the bytes were split into reads (the first input
//    byte chooses the read sizes);
//  - no packet payload exceeds PacketReader::kMaxPacket, whatever run-length encoding asks for;
//  - frame() of any payload reads back as exactly that packet;
//  - the hex helpers round-trip, and reject what they cannot parse without crashing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "vmm/gdb_packet.hpp"

namespace {

using hwbp::vmm::gdb::Item;
using hwbp::vmm::gdb::PacketReader;

std::vector<Item> read_in_chunks(std::string_view bytes, std::size_t chunk) {
  PacketReader reader;
  std::vector<Item> items;
  for (std::size_t at = 0; at < bytes.size(); at += chunk) {
    reader.feed(bytes.substr(at, chunk));
    while (auto item = reader.next()) items.push_back(std::move(*item));
  }
  return items;
}

bool same(const std::vector<Item>& a, const std::vector<Item>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].kind != b[i].kind || a[i].payload != b[i].payload) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace gdb = hwbp::vmm::gdb;
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 16;
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);

  const std::vector<Item> whole = read_in_chunks(bytes, bytes.size() + 1);
  if (!same(whole, read_in_chunks(bytes, chunk))) std::abort();
  for (const Item& item : whole) {
    if (item.payload.size() > PacketReader::kMaxPacket) std::abort();
    if (item.kind != Item::Kind::packet && !item.payload.empty()) std::abort();
  }

  if (bytes.size() <= PacketReader::kMaxPacket) {
    const std::vector<Item> back = read_in_chunks(gdb::frame(bytes), chunk);
    if (back.size() != 1 || back[0].kind != Item::Kind::packet || back[0].payload != bytes) std::abort();
  }

  const std::span<const std::uint8_t> raw(data + 1, size - 1);
  const auto hex = gdb::from_hex(gdb::to_hex(raw));
  if (!hex || !std::equal(hex->begin(), hex->end(), raw.begin(), raw.end())) std::abort();
  (void)gdb::from_hex(bytes);
  if (auto n = gdb::parse_number(bytes)) {
    if (gdb::parse_number(gdb::number(*n)) != n) std::abort();
  }
  if (auto v = gdb::parse_le_hex(bytes)) {
    if (gdb::parse_le_hex(gdb::le_hex(*v, 8)) != v) std::abort();
  }
  if (gdb::unescape_binary(bytes).size() > bytes.size()) std::abort();
  return 0;
}
