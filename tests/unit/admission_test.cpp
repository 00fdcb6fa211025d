// The library's admission (core::SlotAccountant under the model in inprocess/admission.hpp)
// must agree with the slot table's per-thread rule on every plan, and explain refusals.
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <random>

#include "core/slot_table.hpp"
#include "inprocess/admission.hpp"

namespace hwbp {
namespace {

core::SlotKey key_for(int kind, std::uintptr_t addr) {
  core::SlotKey k;
  k.chunk = {addr, 8, core::HwType::write};
  if (kind == 0) k.target = core::kProcessTarget;
  if (kind >= 1 && kind <= 3) k.target = static_cast<std::uint64_t>(1000 + kind);
  if (kind == 4) {
    k.target = core::kProcessTarget;
    k.cpu_wide = true;
  }
  return k;
}

TEST(Admission, AgreesWithTheSlotTableOnRandomPlans) {
  unsigned seed = std::getenv("HWBP_SEED") ? static_cast<unsigned>(std::atoi(std::getenv("HWBP_SEED")))
                                           : std::random_device{}();
  std::cout << "seed " << seed << " (HWBP_SEED to replay)\n";
  RecordProperty("seed", static_cast<int>(seed));
  std::mt19937 rng(seed);
  const core::ArchInfo arch = core::arch_x86_64();
  for (unsigned cpus : {1u, 2u, 8u}) {
    core::SlotTable table(arch, 64, {4});
    inprocess::Admission admission(arch, cpus);
    std::vector<int> live;
    std::uintptr_t next_addr = 0x1000;
    for (int op = 0; op < 20000; ++op) {
      if (!live.empty() && rng() % 3 == 0) {
        std::size_t i = rng() % live.size();
        std::vector<int> one{live[i]};
        table.release(one);
        admission.release(live[i]);
        live.erase(live.begin() + static_cast<long>(i));
        continue;
      }
      core::SlotKey key = key_for(static_cast<int>(rng() % 5), next_addr += 8);
      std::vector<core::SlotKey> keys{key};
      auto plan = table.plan(keys);
      bool table_fits = plan.plan.has_value();
      int slot = table_fits ? plan.plan->slot_of_key[0] : 63;
      auto why = admission.admit(slot, key);
      ASSERT_EQ(table_fits, !why.has_value())
          << "op " << op << " cpus " << cpus << " seed " << seed << (why ? ": " + *why : "");
      if (!table_fits) {
        EXPECT_NE(why->find("slots would be taken"), std::string::npos) << *why;
        continue;
      }
      table.commit(*plan.plan, keys);
      live.push_back(slot);
    }
  }
}

TEST(Admission, ExplainsACpuWideRefusal) {
  inprocess::Admission admission(core::arch_x86_64(), 2);
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(admission.admit(i, key_for(1, 0x1000 + 8 * i)));
  ASSERT_FALSE(admission.admit(3, key_for(0, 0x2000)));  // the thread now holds 4
  auto why = admission.admit(4, key_for(4, 0x3000));
  ASSERT_TRUE(why);
  EXPECT_EQ(*why, "on CPU 0 all 4 slots would be taken: 0 by CPU-wide watches, the busiest "
                  "thread there holds 4");
}

}  // namespace
}  // namespace hwbp
