#include "core/dr7.hpp"

#include <gtest/gtest.h>

#include "hwbp/error.hpp"

namespace hwbp::core::x86 {
namespace {

Dr7 one_slot(unsigned n, Dr7Slot slot, bool global_exact) {
  Dr7 d;
  d.slots[n] = slot;
  d.global_exact = global_exact;
  return d;
}

TEST(Dr7Len, CodesIncludingTheEightByteQuirk) {
  EXPECT_EQ(dr7_len_code(1), 0u);
  EXPECT_EQ(dr7_len_code(2), 1u);
  EXPECT_EQ(dr7_len_code(8), 2u);
  EXPECT_EQ(dr7_len_code(4), 3u);
  for (unsigned bad : {0u, 3u, 5u, 6u, 7u, 16u}) EXPECT_FALSE(dr7_len_code(bad)) << bad;
  EXPECT_EQ(dr7_len_bytes(0), 1u);
  EXPECT_EQ(dr7_len_bytes(1), 2u);
  EXPECT_EQ(dr7_len_bytes(2), 8u);
  EXPECT_EQ(dr7_len_bytes(3), 4u);
}

TEST(Dr7Nibble, AllValidNibbles) {
  // Intel SDM vol. 3, "Debug Control Register (DR7)": R/W 00 exec, 01 write, 11 read/write;
  // LEN 00 one byte, 01 two, 11 four, 10 eight.
  EXPECT_EQ(dr7_nibble(DrRw::exec, 1), 0x0);
  EXPECT_EQ(dr7_nibble(DrRw::write, 1), 0x1);
  EXPECT_EQ(dr7_nibble(DrRw::read_write, 1), 0x3);
  EXPECT_EQ(dr7_nibble(DrRw::write, 2), 0x5);
  EXPECT_EQ(dr7_nibble(DrRw::read_write, 2), 0x7);
  EXPECT_EQ(dr7_nibble(DrRw::write, 4), 0xD);
  EXPECT_EQ(dr7_nibble(DrRw::read_write, 4), 0xF);
  EXPECT_EQ(dr7_nibble(DrRw::write, 8), 0x9);
  EXPECT_EQ(dr7_nibble(DrRw::read_write, 8), 0xB);
}

TEST(Dr7Nibble, ExecAlwaysEncodesLenZero) {
  // perf hands the kernel bp_len = sizeof(long) for X; the hardware wants LEN 00.
  for (unsigned len : {1u, 2u, 4u, 8u}) EXPECT_EQ(dr7_nibble(DrRw::exec, len), 0x0);
}

TEST(Dr7Nibble, RejectsUnencodableLengthAndSlot) {
  EXPECT_THROW(dr7_nibble(DrRw::write, 3), Error);
  EXPECT_THROW(dr7_nibble(DrRw::read_write, 16), Error);
  EXPECT_THROW(dr7_slot_bits(4, Dr7Slot{}), Error);
  try {
    dr7_nibble(DrRw::write, 3);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_request);
  }
}

TEST(Dr7Examples, A_FourByteWriteInSlot2) {
  const Dr7Slot slot{.local = false, .global = true, .rw = DrRw::write, .len = 4};
  EXPECT_EQ(dr7_slot_bits(2, slot), 0x0D000020u);
  EXPECT_EQ(dr7_encode(one_slot(2, slot, true)), 0x0D000220u);         // Linux encode_dr7
  EXPECT_EQ(dr7_encode(one_slot(2, slot, true), true), 0x0D000620u);   // hardware read-back / QEMU
  EXPECT_EQ(dr7_encode(one_slot(2, slot, false), true), 0x0D000420u);  // KVM selftest
  Dr7 gdb;
  gdb.slots[2] = Dr7Slot{.local = true, .global = false, .rw = DrRw::write, .len = 4};
  gdb.local_exact = true;
  EXPECT_EQ(dr7_encode(gdb), 0x0D000110u);

  const Dr7 decoded = dr7_decode(0x0D000220);
  EXPECT_EQ(decoded, one_slot(2, slot, true));
  EXPECT_FALSE(decoded.slots[0].enabled());
  EXPECT_TRUE(decoded.slots[2].enabled());
  EXPECT_EQ(dr7_decode(0x0D000620), decoded);  // bit 10 ignored
  EXPECT_EQ(dr7_decode(0x0D000110), gdb);
}

TEST(Dr7Examples, B_ExecSlot0) {
  for (unsigned len : {1u, 8u}) {
    const Dr7Slot slot{.local = false, .global = true, .rw = DrRw::exec, .len = len};
    EXPECT_EQ(dr7_encode(one_slot(0, slot, true)), 0x202u);
    EXPECT_EQ(dr7_encode(one_slot(0, slot, true), true), 0x602u);
    EXPECT_EQ(dr7_encode(one_slot(0, slot, false), true), 0x402u);
  }
  const Dr7 d = dr7_decode(0x602);
  EXPECT_TRUE(d.slots[0].global);
  EXPECT_EQ(d.slots[0].rw, DrRw::exec);
  EXPECT_EQ(d.slots[0].len, 1u);
  EXPECT_TRUE(d.global_exact);
}

// Found by fuzz/debug_registers_fuzzer: an exec slot with LEN bits set (undefined for the CPU)
// decoded with that length, which the encoder then dropped; decoding now agrees with encoding.
TEST(Dr7Examples, ExecSlotDecodesAsOneByteWhateverItsLenBits) {
  for (std::uint64_t len_bits : {1u, 2u, 3u}) {
    const std::uint64_t raw = 0x2 | (len_bits << 18);  // G0, RW0 = 00 (exec), LEN0 != 00
    const Dr7 d = dr7_decode(raw);
    EXPECT_EQ(d.slots[0].rw, DrRw::exec);
    EXPECT_EQ(d.slots[0].len, 1u) << len_bits;
    EXPECT_EQ(dr7_decode(dr7_encode(d)), d);
  }
}

TEST(Dr7Examples, C_EightByteReadWriteSlot3) {
  const Dr7Slot slot{.local = false, .global = true, .rw = DrRw::read_write, .len = 8};
  EXPECT_EQ(dr7_encode(one_slot(3, slot, true)), 0xB0000280u);
  EXPECT_EQ(dr7_decode(0xB0000280), one_slot(3, slot, true));
}

TEST(Dr7Examples, D_TwoByteReadWriteSlot1) {
  const Dr7Slot slot{.local = false, .global = true, .rw = DrRw::read_write, .len = 2};
  EXPECT_EQ(dr7_encode(one_slot(1, slot, true)), 0x00700208u);
  EXPECT_EQ(dr7_decode(0x00700208), one_slot(1, slot, true));
}

TEST(Dr7RoundTrip, EverySlotTypeLengthAndEnable) {
  int cases = 0;
  for (unsigned n = 0; n < 4; ++n) {
    for (DrRw rw : {DrRw::exec, DrRw::write, DrRw::io, DrRw::read_write}) {
      for (unsigned len : {1u, 2u, 4u, 8u}) {
        if (rw == DrRw::exec && len != 1) continue;  // exec decodes back as LEN 00 = 1
        for (int enables = 0; enables < 4; ++enables) {
          for (int flags = 0; flags < 8; ++flags) {
            Dr7 d;
            d.slots[n] = Dr7Slot{
                .local = bool(enables & 1), .global = bool(enables & 2), .rw = rw, .len = len};
            d.local_exact = flags & 1;
            d.global_exact = flags & 2;
            d.general_detect = flags & 4;
            EXPECT_EQ(dr7_decode(dr7_encode(d)), d) << n << " " << int(rw) << " " << len;
            EXPECT_EQ(dr7_decode(dr7_encode(d, true)), d);
            ++cases;
          }
        }
      }
    }
  }
  EXPECT_EQ(cases, 4 * (1 + 3 * 4) * 4 * 8);
}

TEST(Dr7RoundTrip, AllFourSlotsAtOnceAndGeneralDetect) {
  Dr7 d;
  d.slots[0] = {.local = true, .global = false, .rw = DrRw::exec, .len = 1};
  d.slots[1] = {.local = false, .global = true, .rw = DrRw::write, .len = 8};
  d.slots[2] = {.local = true, .global = true, .rw = DrRw::read_write, .len = 2};
  d.slots[3] = {.local = false, .global = true, .rw = DrRw::write, .len = 4};
  d.general_detect = true;
  const std::uint64_t raw = dr7_encode(d);
  EXPECT_EQ(raw, 0xD7900000u | 0x1 | 0x8 | 0x30 | 0x80 | 0x2000);
  EXPECT_EQ(dr7_decode(raw), d);
}

TEST(Dr7Decode, IgnoresReservedBits) {
  const std::uint64_t raw = 0xB0000280;
  const std::uint64_t noise = 0xFFFFFFFF00000000ull | 0x400 | 0x800 | 0x1000 | 0x4000 | 0x8000;
  EXPECT_EQ(dr7_decode(raw | noise), dr7_decode(raw));
  EXPECT_EQ(dr7_decode(0x400), Dr7{});
}

TEST(Dr6Decode, KvmExitValues) {
  EXPECT_EQ(dr6_decode(0xFFFF0FF1), Dr6Status{.hit_mask = 0x1});
  EXPECT_EQ(dr6_decode(0xFFFF0FF8), Dr6Status{.hit_mask = 0x8});
  EXPECT_EQ(dr6_decode(0xFFFF0FF4), Dr6Status{.hit_mask = 0x4});
  EXPECT_EQ(dr6_decode(0xFFFF4FF0), Dr6Status{.single_step = true});
  EXPECT_EQ(dr6_decode(0xFFFF2FF0), Dr6Status{.debug_register_access = true});
  EXPECT_EQ(dr6_decode(0xFFFF8FF0), Dr6Status{.task_switch = true});
  EXPECT_EQ(dr6_decode(kDr6Reserved), Dr6Status{});
}

TEST(Dr6Decode, ActiveLowBits) {
  // BLD (bit 11) and RTM (bit 16) report by reading 0.
  EXPECT_EQ(dr6_decode(0xFFFF07F0), Dr6Status{.bus_lock = true});
  EXPECT_EQ(dr6_decode(0xFFFE0FF0), Dr6Status{.rtm = true});
  EXPECT_EQ(dr6_decode(0xFFFE07F3), (Dr6Status{.hit_mask = 0x3, .bus_lock = true, .rtm = true}));
}

TEST(Dr6Encode, InverseOfDecode) {
  EXPECT_EQ(dr6_encode(Dr6Status{}), kDr6Reserved);
  EXPECT_EQ(dr6_encode(Dr6Status{.hit_mask = 1}), 0xFFFF0FF1u);
  EXPECT_EQ(dr6_encode(Dr6Status{.single_step = true}), 0xFFFF4FF0u);
  EXPECT_EQ(dr6_encode(Dr6Status{.bus_lock = true}), 0xFFFF07F0u);
  for (unsigned hits = 0; hits < 16; ++hits) {
    for (unsigned flags = 0; flags < 32; ++flags) {
      const Dr6Status s{.hit_mask = std::uint8_t(hits),
                        .bus_lock = bool(flags & 1),
                        .debug_register_access = bool(flags & 2),
                        .single_step = bool(flags & 4),
                        .task_switch = bool(flags & 8),
                        .rtm = bool(flags & 16)};
      EXPECT_EQ(dr6_decode(dr6_encode(s)), s);
    }
  }
}

TEST(Dr6HitsEnabled, MasksDisabledSlots) {
  EXPECT_EQ(dr6_hits_enabled(0xFFFF0FFF, 0x0D000220), 0x4);  // only G2 enabled
  EXPECT_EQ(dr6_hits_enabled(0xFFFF0FFF, 0x81), 0x9);        // L0 + G3
  EXPECT_EQ(dr6_hits_enabled(0xFFFF0FF2, 0x81), 0x0);        // B1 for a disabled slot
  EXPECT_EQ(dr6_hits_enabled(0xFFFF0FFF, 0x0D000600), 0x0);  // nibble set, no enables
  EXPECT_EQ(dr6_hits_enabled(0xFFFF0FF5, 0xFF), 0x5);
  EXPECT_EQ(dr6_hits_enabled(0xFFFF4FF0, 0xFF), 0x0);  // single step is not a slot hit
}

}  // namespace
}  // namespace hwbp::core::x86
