// The GDB remote protocol's byte level, without a stub or a VM: framing, checksums, escapes,
// run-length encoding, acknowledgements, interrupts, bad input.
#include <gtest/gtest.h>

#include <cstdio>

#include "vmm/gdb_packet.hpp"

namespace hwbp::vmm::gdb {
namespace {

std::vector<Item> read_all(PacketReader& r) {
  std::vector<Item> items;
  while (auto item = r.next()) items.push_back(std::move(*item));
  return items;
}

TEST(GdbPacket, FramesWithChecksumAndEscapes) {
  EXPECT_EQ(frame("OK"), "$OK#9a");
  EXPECT_EQ(frame(""), "$#00");
  // '#', '$', '}' and '*' go out as '}' + (c ^ 0x20); the checksum covers the escaped bytes.
  const std::string f = frame("a#b");
  EXPECT_EQ(f.substr(0, 5), "$a}\x03" "b");
  PacketReader r;
  r.feed(f);
  auto items = read_all(r);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, Item::Kind::packet);
  EXPECT_EQ(items[0].payload, "a#b");
}

TEST(GdbPacket, ReadsAcksInterruptsAndPacketsAcrossPartialReads) {
  PacketReader r;
  const std::string f = frame("qSupported:xmlRegisters=i386");
  r.feed("+" + f.substr(0, 6));
  auto items = read_all(r);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, Item::Kind::ack);
  r.feed(f.substr(6, f.size() - 8));
  EXPECT_TRUE(read_all(r).empty());  // the checksum is not there yet
  r.feed(f.substr(f.size() - 2));
  r.feed("\x03-junk");
  items = read_all(r);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].kind, Item::Kind::packet);
  EXPECT_EQ(items[0].payload, "qSupported:xmlRegisters=i386");
  EXPECT_EQ(items[1].kind, Item::Kind::interrupt);
  EXPECT_EQ(items[2].kind, Item::Kind::nack);
}

TEST(GdbPacket, BadChecksumAndMalformedBodiesAreReportedNotCrashed) {
  PacketReader r;
  r.feed("$g#00$g#zz$m}#");  // wrong sum, non-hex sum, a dangling escape (incomplete)
  auto items = read_all(r);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].kind, Item::Kind::bad_checksum);
  EXPECT_EQ(items[1].kind, Item::Kind::bad_checksum);
  r.feed("00");
  items = read_all(r);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, Item::Kind::bad_checksum);
  // A packet without end larger than the announced size is dropped, not buffered forever.
  r.feed("$" + std::string(PacketReader::kMaxPacket + 10, 'a'));
  items = read_all(r);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].kind, Item::Kind::bad_checksum);
}

TEST(GdbPacket, RunLengthEncodingIsExpanded) {
  // "0* " = '0' then ' ' - 29 = 3 more: "0000".
  std::string body = "0* ";
  unsigned sum = 0;
  for (char c : body) sum += static_cast<unsigned char>(c);
  char cs[3];
  std::snprintf(cs, sizeof cs, "%02x", sum & 0xff);
  PacketReader r;
  r.feed("$" + body + "#" + cs);
  auto items = read_all(r);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].payload, "0000");
}

TEST(GdbPacket, HexNumbersAndRegisters) {
  const std::vector<std::uint8_t> b{0x00, 0x7f, 0xff};
  EXPECT_EQ(to_hex(b), "007fff");
  EXPECT_EQ(from_hex("007fFF"), b);
  EXPECT_FALSE(from_hex("0"));
  EXPECT_FALSE(from_hex("zz"));
  EXPECT_EQ(parse_number("1000f"), 0x1000fu);
  EXPECT_FALSE(parse_number(""));
  EXPECT_FALSE(parse_number("12345678901234567"));
  EXPECT_FALSE(parse_number("-1"));
  EXPECT_EQ(number(0x2badb002), "2badb002");
  EXPECT_EQ(le_hex(0x100020, 4), "20001000");
  EXPECT_EQ(parse_le_hex("20001000"), 0x100020u);
  EXPECT_EQ(unescape_binary("a}\x03" "b"), (std::vector<std::uint8_t>{'a', '#', 'b'}));
}

}  // namespace
}  // namespace hwbp::vmm::gdb
