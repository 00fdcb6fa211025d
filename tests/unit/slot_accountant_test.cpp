// Conformance of core::SlotAccountant with the kernel's breakpoint slot accounting:
//  - the nine cases of kernel/events/hw_breakpoint_test.c (KUnit), over slot and CPU counts,
//  - a randomized differential test against the naive oracle (accountant_oracle.hpp),
//  - the kernel's error order, modify with rollback, and concurrent use.
#include "core/slot_accountant.hpp"
#include "support/slot_accountant_audit.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "accountant_oracle.hpp"

namespace hwbp::core {
namespace {

using test::AccountantOracle;
using Handle = SlotAccountant::Handle;

constexpr BpType kR = 1, kW = 2, kRW = 3, kX = 4;

// One mixed pool of `slots` (x86-like; x86 itself has 4).
ArchInfo mixed_arch(unsigned slots) {
  ArchInfo a = arch_x86_64();
  a.inst_slots = a.data_slots = slots;
  return a;
}
// Separate instruction and data pools (aarch64-like), any counts including 0 and 1.
ArchInfo split_arch(unsigned inst, unsigned data) {
  ArchInfo a = arch_aarch64();
  a.inst_slots = inst;
  a.data_slots = data;
  return a;
}

std::string describe(const Breakpoint& bp) {
  std::ostringstream os;
  os << (bp.task == kNoTask ? std::string("cpu") : "task" + std::to_string(bp.task)) << "@"
     << (bp.cpu < 0 ? std::string("all") : std::to_string(bp.cpu)) << " type " << int(bp.type)
     << " w" << bp.weight;
  return os.str();
}

// ===================================================================================
// The KUnit suite (kernel/events/hw_breakpoint_test.c), assertion for assertion.
// Every step runs on the accountant and on the oracle; both must give the kernel's answer.
// ===================================================================================

struct KUnitParam {
  bool mixed;      // one mixed pool (x86) or separate pools (aarch64); the test uses RW = data
  unsigned slots;  // hw_breakpoint_slots(TYPE_DATA)
  unsigned cpus;   // online (= possible) CPUs
};

std::string kunit_name(const ::testing::TestParamInfo<KUnitParam>& info) {
  return std::string(info.param.mixed ? "mixed" : "split") + "_S" + std::to_string(info.param.slots) +
         "_cpus" + std::to_string(info.param.cpus);
}

constexpr int kMaxTestBreakpoints = 512;  // MAX_TEST_BREAKPOINTS
constexpr std::uint64_t kCur = 1;         // current
constexpr std::uint64_t kOth = 2;         // get_other_task()

class AccountantKUnit : public ::testing::TestWithParam<KUnitParam> {
 protected:
  void SetUp() override {
    const KUnitParam p = GetParam();
    // test_init(): "Most test cases want 2 distinct CPUs."
    if (p.cpus < 2) GTEST_SKIP() << "the KUnit suite requires at least 2 online CPUs";
    const ArchInfo arch = p.mixed ? mixed_arch(p.slots) : split_arch(p.slots, p.slots);
    acc_ = std::make_unique<SlotAccountant>(arch, p.cpus);
    oracle_ = std::make_unique<AccountantOracle>(arch, p.cpus);
    ASSERT_FALSE(is_used(*acc_));
  }

  // test_exit(): unregister everything, then nothing may remain in use (leak check).
  void TearDown() override {
    if (!acc_) return;
    for (auto& b : test_bps_)
      if (b.acc) {
        EXPECT_TRUE(acc_->release(b.acc));
        EXPECT_TRUE(oracle_->release(b.oracle));
      }
    EXPECT_FALSE(is_used(*acc_));
    EXPECT_EQ(audit(*acc_), "");
    EXPECT_FALSE(oracle_->is_used());
  }

  int slots() const { return static_cast<int>(GetParam().slots); }
  int get_test_cpu(int num) const { return num; }  // online CPUs are 0..n-1

  static Breakpoint bp(int cpu, std::uint64_t tsk) { return Breakpoint{tsk, cpu, kRW, 1}; }

  // register_test_bp(): returns the outcome; a success that is not kept is released again.
  struct Registered {
    Admit acc, oracle;
    Handle h;
    std::uint64_t oid;
  };
  Registered register_test_bp(int cpu, std::uint64_t tsk) {
    const Breakpoint b = bp(cpu, tsk);
    const Admit dry = acc_->fits(b);
    const Usage u = acc_->usage(b);
    const Usage ou = oracle_->usage(b);
    auto r = acc_->reserve(b);
    auto o = oracle_->reserve(b);
    EXPECT_EQ(dry, r.result) << describe(b) << ": fits() disagrees with reserve()";
    EXPECT_EQ(u.need() + 1 > u.slots, r.result == Admit::no_space) << describe(b) << ": usage() does not explain";
    EXPECT_EQ(u, ou) << describe(b);
    EXPECT_EQ(r.result, o.result) << describe(b) << ": accountant vs oracle";
    return {r.result, o.result, r.handle, o.id};
  }

  // TEST_EXPECT_NOSPC(register_test_bp(cpu, tsk, idx)).
  void expect_nospc(int cpu, std::uint64_t tsk) {
    Registered r = register_test_bp(cpu, tsk);
    EXPECT_EQ(Admit::no_space, r.acc) << describe(bp(cpu, tsk));
    EXPECT_EQ(Admit::no_space, r.oracle) << describe(bp(cpu, tsk));
    if (r.acc == Admit::ok) acc_->release(r.h);
    if (r.oracle == Admit::ok) oracle_->release(r.oid);
  }

  // fill_one_bp_slot().
  void fill_one_bp_slot(int* id, int cpu, std::uint64_t tsk) {
    ASSERT_LT(*id, kMaxTestBreakpoints);
    Registered r = register_test_bp(cpu, tsk);
    ASSERT_EQ(Admit::ok, r.acc) << describe(bp(cpu, tsk));
    ASSERT_EQ(Admit::ok, r.oracle) << describe(bp(cpu, tsk));
    ASSERT_FALSE(test_bps_[*id].acc);
    test_bps_[(*id)++] = {r.h, r.oid};
  }

  // fill_bp_slots(): fill leaving `skip` slots free; true if it can be called again.
  bool fill_bp_slots(int* id, int cpu, std::uint64_t tsk, int skip) {
    for (int i = 0; i < slots() - skip; ++i) {
      fill_one_bp_slot(id, cpu, tsk);
      if (HasFatalFailure()) return false;
    }
    return *id + slots() <= kMaxTestBreakpoints;
  }

  void unregister_test_bp(int idx) {
    ASSERT_TRUE(test_bps_[idx].acc);
    EXPECT_TRUE(acc_->release(test_bps_[idx].acc));
    EXPECT_TRUE(oracle_->release(test_bps_[idx].oracle));
    test_bps_[idx] = {};
  }

  bool requires_bp_slots(int n) const { return n <= slots(); }

  struct Slot {
    Handle acc;
    std::uint64_t oracle = 0;
  };
  std::unique_ptr<SlotAccountant> acc_;
  std::unique_ptr<AccountantOracle> oracle_;
  Slot test_bps_[kMaxTestBreakpoints];
};

#define FILL(id, cpu, tsk, skip) ASSERT_NO_FATAL_FAILURE(fill_bp_slots(id, cpu, tsk, skip))
#define FILL_ONE(id, cpu, tsk) ASSERT_NO_FATAL_FAILURE(fill_one_bp_slot(id, cpu, tsk))
#define NOSPC(cpu, tsk) expect_nospc(cpu, tsk)
#define REQUIRES_BP_SLOTS(n) \
  if (!requires_bp_slots(n)) GTEST_SKIP() << "Requires breakpoint slots: " << (n) << " > " << slots()

TEST_P(AccountantKUnit, test_one_cpu) {
  int idx = 0;
  FILL(&idx, get_test_cpu(0), kNoTask, 0);
  NOSPC(-1, kCur);
  NOSPC(get_test_cpu(0), kNoTask);
}

TEST_P(AccountantKUnit, test_many_cpus) {
  int idx = 0;
  // CPUs are independent.
  for (unsigned cpu = 0; cpu < GetParam().cpus; ++cpu) {
    bool do_continue = false;
    ASSERT_NO_FATAL_FAILURE(do_continue = fill_bp_slots(&idx, static_cast<int>(cpu), kNoTask, 0));
    NOSPC(static_cast<int>(cpu), kNoTask);
    if (!do_continue) break;
  }
}

TEST_P(AccountantKUnit, test_one_task_on_all_cpus) {
  int idx = 0;
  FILL(&idx, -1, kCur, 0);
  NOSPC(-1, kCur);
  NOSPC(get_test_cpu(0), kCur);
  NOSPC(get_test_cpu(0), kNoTask);
  // Remove one and adding back CPU-target should work.
  unregister_test_bp(0);
  FILL_ONE(&idx, get_test_cpu(0), kNoTask);
}

TEST_P(AccountantKUnit, test_two_tasks_on_all_cpus) {
  int idx = 0;
  // Tasks are independent.
  FILL(&idx, -1, kCur, 0);
  FILL(&idx, -1, kOth, 0);
  NOSPC(-1, kCur);
  NOSPC(-1, kOth);
  NOSPC(get_test_cpu(0), kCur);
  NOSPC(get_test_cpu(0), kOth);
  NOSPC(get_test_cpu(0), kNoTask);
  // Remove one from the first task: a CPU target still does not fit.
  unregister_test_bp(0);
  NOSPC(get_test_cpu(0), kNoTask);
}

TEST_P(AccountantKUnit, test_one_task_on_one_cpu) {
  int idx = 0;
  FILL(&idx, get_test_cpu(0), kCur, 0);
  NOSPC(-1, kCur);
  NOSPC(get_test_cpu(0), kCur);
  NOSPC(get_test_cpu(0), kNoTask);
  // Remove one and adding back CPU-target should work; the task's constraints are CPU-dependent.
  unregister_test_bp(0);
  FILL_ONE(&idx, get_test_cpu(0), kNoTask);
}

TEST_P(AccountantKUnit, test_one_task_mixed) {
  int idx = 0;
  REQUIRES_BP_SLOTS(3);
  FILL_ONE(&idx, get_test_cpu(0), kCur);
  FILL(&idx, -1, kCur, 1);
  NOSPC(-1, kCur);
  NOSPC(get_test_cpu(0), kCur);
  NOSPC(get_test_cpu(0), kNoTask);
  // Transition from CPU-dependent pinned count to CPU-independent.
  unregister_test_bp(0);
  unregister_test_bp(1);
  FILL_ONE(&idx, get_test_cpu(0), kNoTask);
  FILL_ONE(&idx, get_test_cpu(0), kNoTask);
  NOSPC(get_test_cpu(0), kNoTask);
}

TEST_P(AccountantKUnit, test_two_tasks_on_one_cpu) {
  int idx = 0;
  FILL(&idx, get_test_cpu(0), kCur, 0);
  FILL(&idx, get_test_cpu(0), kOth, 0);
  NOSPC(-1, kCur);
  NOSPC(-1, kOth);
  NOSPC(get_test_cpu(0), kCur);
  NOSPC(get_test_cpu(0), kOth);
  NOSPC(get_test_cpu(0), kNoTask);
  // Can still create breakpoints on some other CPU.
  FILL(&idx, get_test_cpu(1), kNoTask, 0);
}

TEST_P(AccountantKUnit, test_two_tasks_on_one_all_cpus) {
  int idx = 0;
  FILL(&idx, get_test_cpu(0), kCur, 0);
  FILL(&idx, -1, kOth, 0);
  NOSPC(-1, kCur);
  NOSPC(-1, kOth);
  NOSPC(get_test_cpu(0), kCur);
  NOSPC(get_test_cpu(0), kOth);
  NOSPC(get_test_cpu(0), kNoTask);
  // Cannot create breakpoints on some other CPU either.
  NOSPC(get_test_cpu(1), kNoTask);
}

TEST_P(AccountantKUnit, test_task_on_all_and_one_cpu) {
  int idx = 0;
  REQUIRES_BP_SLOTS(3);
  FILL(&idx, -1, kCur, 2);
  // Transitioning from only all CPU breakpoints to mixed.
  const int tsk_on_cpu_idx = idx;
  FILL_ONE(&idx, get_test_cpu(0), kCur);
  FILL_ONE(&idx, -1, kCur);
  NOSPC(-1, kCur);
  NOSPC(get_test_cpu(0), kCur);
  NOSPC(get_test_cpu(0), kNoTask);
  // We should still be able to use up another CPU's slots.
  const int cpu_idx = idx;
  FILL_ONE(&idx, get_test_cpu(1), kNoTask);
  NOSPC(get_test_cpu(1), kNoTask);
  // Transitioning back to task target on all CPUs.
  unregister_test_bp(tsk_on_cpu_idx);
  // Still have a CPU target breakpoint in get_test_cpu(1).
  NOSPC(-1, kCur);
  // Remove it and try again.
  unregister_test_bp(cpu_idx);
  FILL_ONE(&idx, -1, kCur);
  NOSPC(-1, kCur);
  NOSPC(get_test_cpu(0), kCur);
  NOSPC(get_test_cpu(0), kNoTask);
  NOSPC(get_test_cpu(1), kNoTask);
}

std::vector<KUnitParam> kunit_params() {
  std::vector<KUnitParam> out;
  for (bool mixed : {true, false})
    for (unsigned s : {1u, 2u, 4u, 16u})
      for (unsigned c : {1u, 2u, 8u, 256u}) out.push_back({mixed, s, c});
  return out;
}

INSTANTIATE_TEST_SUITE_P(Slots, AccountantKUnit, ::testing::ValuesIn(kunit_params()), kunit_name);

// ===================================================================================
// Error order (kernel/events/hw_breakpoint.c: hw_breakpoint_event_init, then __reserve_bp_slot)
// and argument checks.
// ===================================================================================

TEST(AccountantErrors, InvalidTypesAreEinvalBeforeSpace) {
  SlotAccountant acc(arch_x86_64(), 2);
  EXPECT_EQ(acc.reserve({1, -1, 0, 1}).result, Admit::invalid_type);  // HW_BREAKPOINT_EMPTY
  EXPECT_EQ(acc.reserve({1, -1, 7, 1}).result, Admit::invalid_type);  // HW_BREAKPOINT_INVALID
  EXPECT_EQ(acc.reserve({kNoTask, 0, 7, 1}).result, Admit::invalid_type);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(acc.reserve({1, -1, kW, 1}).result, Admit::ok);
  // Full: EMPTY/INVALID still get EINVAL (checked before the admission rule) ...
  EXPECT_EQ(acc.reserve({1, -1, 0, 1}).result, Admit::invalid_type);
  EXPECT_EQ(acc.fits({1, -1, 7, 1}), Admit::invalid_type);
  // ... but a type the arch layer would reject later (X|R = 5, X|W = 6) is a data breakpoint to
  // the generic layer and gets ENOSPC: "a malformed request on a full thread gets ENOSPC".
  EXPECT_EQ(acc.reserve({1, -1, 5, 1}).result, Admit::no_space);
  EXPECT_EQ(acc.reserve({1, 0, 6, 1}).result, Admit::no_space);
  EXPECT_EQ(acc.reserve({1, 0, kX, 1}).result, Admit::no_space);  // x86: X shares the pool
  EXPECT_EQ(to_errno(Admit::no_space), ENOSPC);
  EXPECT_EQ(to_errno(Admit::invalid_type), EINVAL);
  EXPECT_EQ(to_errno(Admit::not_supported), EOPNOTSUPP);
  EXPECT_EQ(audit(acc), "");
}

TEST(AccountantErrors, ClassWithoutSlotsIsEopnotsuppFirst) {
  // powerpc-like: no instruction breakpoints.
  SlotAccountant acc(split_arch(0, 2), 4);
  AccountantOracle oracle(split_arch(0, 2), 4);
  for (const Breakpoint& b : {Breakpoint{1, -1, kX, 1}, Breakpoint{kNoTask, 1, kX, 1},
                              Breakpoint{1, 2, 0, 1} /* EMPTY is class INST: EOPNOTSUPP first */}) {
    EXPECT_EQ(acc.reserve(b).result, Admit::not_supported) << describe(b);
    EXPECT_EQ(oracle.reserve(b).result, Admit::not_supported) << describe(b);
  }
  // INVALID (7) has the R/W bits: data class, which has slots, so EINVAL.
  EXPECT_EQ(acc.reserve({1, -1, 7, 1}).result, Admit::invalid_type);
  EXPECT_EQ(acc.usage({1, -1, kX, 1}).slots, 0u);
  EXPECT_FALSE(is_used(acc));
}

TEST(AccountantErrors, MalformedTargetsComeFirst) {
  SlotAccountant acc(split_arch(0, 2), 4);
  EXPECT_EQ(acc.reserve({kNoTask, -1, kW, 1}).result, Admit::invalid_argument);  // pid -1, cpu -1
  EXPECT_EQ(acc.reserve({kNoTask, -1, kX, 1}).result, Admit::invalid_argument);
  EXPECT_EQ(acc.reserve({kNoTask, 4, kW, 1}).result, Admit::invalid_argument);
  EXPECT_EQ(acc.reserve({1, 4, 0, 1}).result, Admit::invalid_argument);
  EXPECT_EQ(acc.reserve({1, -2, kW, 1}).result, Admit::invalid_argument);
  EXPECT_EQ(acc.reserve({1, -1, kW, 0}).result, Admit::invalid_argument);
  EXPECT_FALSE(acc.release(Handle{}));
  EXPECT_FALSE(acc.release(Handle{1, 42}));
  EXPECT_FALSE(acc.release(Handle{kNoTask, 42}));
  EXPECT_EQ(acc.modify(Handle{1, 42}, kW), Admit::invalid_argument);
  auto r = acc.reserve({1, -1, kW, 1});
  ASSERT_EQ(r.result, Admit::ok);
  EXPECT_TRUE(acc.release(r.handle));
  EXPECT_FALSE(acc.release(r.handle));  // double release is refused, not double-counted
  EXPECT_FALSE(is_used(acc));
  EXPECT_EQ(audit(acc), "");
}

TEST(AccountantErrors, WeightsCountAsSlots) {
  SlotAccountant acc(arch_x86_64(), 2);
  EXPECT_EQ(acc.reserve({1, -1, kW, 5}).result, Admit::no_space);
  ASSERT_EQ(acc.reserve({1, -1, kW, 3}).result, Admit::ok);
  EXPECT_EQ(acc.fits({1, 0, kW, 2}), Admit::no_space);
  EXPECT_EQ(acc.fits({1, 0, kW, 1}), Admit::ok);
  EXPECT_EQ(acc.fits({kNoTask, 1, kW, 2}), Admit::no_space);
  EXPECT_EQ(acc.usage({kNoTask, 1, kW, 1}), (Usage{4, 1, 0, 3}));
}

// ===================================================================================
// Modify (kernel/events/hw_breakpoint.c: modify_bp_slot): a class change re-reserves; on
// failure the old stays.
// ===================================================================================

TEST(AccountantModify, ClassChangeThatFailsRestoresOldReservation) {
  // aarch64: 2 BRPs (X), 4 WRPs (R/W), 2 CPUs.
  SlotAccountant acc(arch_aarch64(2, 4), 2);
  AccountantOracle oracle(arch_aarch64(2, 4), 2);
  std::vector<Handle> w;
  for (int i = 0; i < 4; ++i) {
    auto r = acc.reserve({7, -1, kW, 1});
    ASSERT_EQ(r.result, Admit::ok);
    w.push_back(r.handle);
  }
  ASSERT_EQ(acc.reserve({7, -1, kX, 1}).result, Admit::ok);
  ASSERT_EQ(acc.reserve({7, 0, kX, 1}).result, Admit::ok);  // X pool full on CPU 0
  const Usage data_before = acc.usage({7, -1, kW, 1});
  const Usage inst_before = acc.usage({7, -1, kX, 1});
  EXPECT_EQ(data_before.need(), 4u);
  EXPECT_EQ(inst_before.need(), 2u);

  // W -> X cannot fit: ENOSPC, and the W reservation is back.
  EXPECT_EQ(acc.modify(w[0], kX), Admit::no_space);
  EXPECT_EQ(acc.usage({7, -1, kW, 1}), data_before);
  EXPECT_EQ(acc.usage({7, -1, kX, 1}), inst_before);
  EXPECT_EQ(acc.reserve({7, 1, kW, 1}).result, Admit::no_space);  // data pool still full
  EXPECT_EQ(audit(acc), "");
  // Invalid new types fail the same way, also restoring.
  EXPECT_EQ(acc.modify(w[1], 0), Admit::invalid_type);
  EXPECT_EQ(acc.modify(w[1], 7), Admit::invalid_type);
  EXPECT_EQ(acc.usage({7, -1, kW, 1}), data_before);
  // Same class, other type: always fits.
  EXPECT_EQ(acc.modify(w[1], kRW), Admit::ok);
  EXPECT_EQ(acc.modify(w[1], kR), Admit::ok);
  EXPECT_EQ(acc.modify(w[1], kR), Admit::ok);  // unchanged: no-op
  EXPECT_EQ(acc.usage({7, -1, kW, 1}), data_before);
  EXPECT_EQ(audit(acc), "");

  // The restored breakpoint still releases cleanly: one data slot frees.
  EXPECT_TRUE(acc.release(w[0]));
  EXPECT_EQ(acc.fits({7, 1, kW, 1}), Admit::ok);
  EXPECT_EQ(audit(acc), "");
}

TEST(AccountantModify, ClassChangeSucceedsWhenThereIsRoomAndMovesTheSlot) {
  SlotAccountant acc(arch_aarch64(2, 4), 4);
  auto w = acc.reserve({9, 2, kW, 1});
  ASSERT_EQ(w.result, Admit::ok);
  EXPECT_EQ(acc.modify(w.handle, kX), Admit::ok);
  EXPECT_EQ(acc.usage({9, 2, kW, 1}).need(), 0u);
  EXPECT_EQ(acc.usage({9, 2, kX, 1}).need(), 1u);
  EXPECT_EQ(audit(acc), "");
  EXPECT_TRUE(acc.release(w.handle));
  EXPECT_FALSE(is_used(acc));
}

TEST(AccountantModify, CpuBoundClassChangeRollsBackAgainstTaskLoad) {
  SlotAccountant acc(arch_aarch64(2, 4), 2);
  ASSERT_EQ(acc.reserve({3, 1, kX, 1}).result, Admit::ok);
  ASSERT_EQ(acc.reserve({3, -1, kX, 1}).result, Admit::ok);  // task 3 uses both BRPs on CPU 1
  auto c = acc.reserve({kNoTask, 1, kW, 1});
  ASSERT_EQ(c.result, Admit::ok);
  EXPECT_EQ(acc.modify(c.handle, kX), Admit::no_space);
  EXPECT_EQ(acc.usage({kNoTask, 1, kW, 1}), (Usage{4, 1, 1, 0}));
  EXPECT_EQ(acc.usage({kNoTask, 1, kX, 1}), (Usage{2, 1, 0, 2}));
  EXPECT_EQ(audit(acc), "");
  // On x86 W -> X stays in the one mixed pool and always succeeds.
  SlotAccountant x86(arch_x86_64(), 2);
  auto h = x86.reserve({kNoTask, 0, kW, 1});
  for (int i = 0; i < 3; ++i) ASSERT_EQ(x86.reserve({5, -1, kRW, 1}).result, Admit::ok);
  EXPECT_EQ(x86.modify(h.handle, kX), Admit::ok);
  EXPECT_EQ(audit(x86), "");
}

// ===================================================================================
// Randomized differential test against the oracle.
// ===================================================================================

std::uint64_t test_seed() {
  if (const char* env = std::getenv("HWBP_SEED")) return std::strtoull(env, nullptr, 0);
  return std::random_device{}() ^ (std::uint64_t{std::random_device{}()} << 32);
}

struct DiffConfig {
  const char* name;
  ArchInfo arch;
  unsigned cpus;
  unsigned tasks;
  int ops;
};

// Runs `cfg.ops` random operations on both models; returns false on the first divergence.
bool run_differential(const DiffConfig& cfg, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  SlotAccountant acc(cfg.arch, cfg.cpus);
  AccountantOracle oracle(cfg.arch, cfg.cpus);
  struct Live {
    Breakpoint bp;
    Handle h;
    std::uint64_t oid;
  };
  std::vector<Live> live;
  auto pick = [&](unsigned n) { return static_cast<unsigned>(rng() % n); };
  auto random_type = [&]() -> BpType {
    const unsigned r = pick(100);
    if (r < 3) return static_cast<BpType>(pick(8));  // includes EMPTY, INVALID, X|R, X|W
    static constexpr BpType common[] = {kW, kW, kRW, kR, kX, kX};
    return common[pick(6)];
  };
  auto random_bp = [&]() {
    Breakpoint b;
    const unsigned kind = pick(100);
    if (kind < 15) {
      b.task = kNoTask;
      b.cpu = static_cast<int>(pick(cfg.cpus));
    } else {
      b.task = 1 + pick(cfg.tasks);
      b.cpu = kind < 60 ? -1 : static_cast<int>(pick(cfg.cpus));
    }
    if (pick(200) == 0) b.cpu = static_cast<int>(cfg.cpus);  // out of range
    b.type = random_type();
    b.weight = pick(100) < 8 ? 2 : 1;
    if (pick(500) == 0) b.weight = 0;
    return b;
  };
  const std::string where = std::string(cfg.name) + " seed " + std::to_string(seed) + " op ";

  for (int op = 0; op < cfg.ops; ++op) {
    const unsigned what = pick(100);
    const std::size_t cap = cfg.tasks * 6 + cfg.cpus * 2;
    if (what < 45 && live.size() < cap) {
      const Breakpoint b = random_bp();
      const Admit dry = acc.fits(b);
      auto r = acc.reserve(b);
      auto o = oracle.reserve(b);
      if (r.result != o.result || dry != r.result) {
        ADD_FAILURE() << where << op << ": reserve " << describe(b) << " accountant " << to_string(r.result)
                      << " (fits " << to_string(dry) << ") oracle " << to_string(o.result);
        return false;
      }
      if (r.result == Admit::ok) live.push_back({b, r.handle, o.id});
    } else if (what < 85 && !live.empty()) {
      const std::size_t i = pick(static_cast<unsigned>(live.size()));
      if (!acc.release(live[i].h) || !oracle.release(live[i].oid)) {
        ADD_FAILURE() << where << op << ": release of a live breakpoint refused";
        return false;
      }
      live[i] = live.back();
      live.pop_back();
    } else if (what < 93 && !live.empty()) {
      Live& l = live[pick(static_cast<unsigned>(live.size()))];
      const BpType t = random_type();
      const Admit a = acc.modify(l.h, t);
      const Admit b = oracle.modify(l.oid, t);
      if (a != b) {
        ADD_FAILURE() << where << op << ": modify " << describe(l.bp) << " -> " << int(t) << " accountant "
                      << to_string(a) << " oracle " << to_string(b);
        return false;
      }
      if (a == Admit::ok) l.bp.type = t;
    } else {
      const Breakpoint b = random_bp();
      const Usage u = acc.usage(b), v = oracle.usage(b);
      const Admit f = acc.fits(b);
      const bool admission_decided = f == Admit::ok || f == Admit::no_space;
      if (u != v || f != oracle.fits(b) ||
          (admission_decided && (f == Admit::no_space) != (u.need() + b.weight > u.slots))) {
        ADD_FAILURE() << where << op << ": usage/fits " << describe(b) << " accountant need " << u.need() << "@"
                      << u.cpu << " oracle need " << v.need() << "@" << v.cpu << " fits " << to_string(f);
        return false;
      }
    }
    if (op % 4096 == 0) {
      if (std::string err = audit(acc); !err.empty()) {
        ADD_FAILURE() << where << op << ": audit: " << err;
        return false;
      }
    }
  }
  if (std::string err = audit(acc); !err.empty()) {
    ADD_FAILURE() << where << "end: audit: " << err;
    return false;
  }
  for (const Live& l : live) {
    EXPECT_TRUE(acc.release(l.h));
    EXPECT_TRUE(oracle.release(l.oid));
  }
  EXPECT_FALSE(is_used(acc)) << where << "end";
  EXPECT_EQ(audit(acc), "");
  EXPECT_FALSE(oracle.is_used());
  return true;
}

TEST(AccountantDifferential, RandomOperationsMatchOracle) {
  const std::uint64_t seed = test_seed();
  std::cout << "[ seed     ] HWBP_SEED=" << seed << " (set HWBP_SEED to reproduce)" << std::endl;
  RecordProperty("seed", std::to_string(seed));
  const DiffConfig configs[] = {
      {"x86_4slots_4cpus", arch_x86_64(), 4, 4, 30000},
      {"aarch64_2x4_3cpus", arch_aarch64(2, 4), 3, 5, 30000},
      {"mixed_1slot_2cpus", mixed_arch(1), 2, 3, 15000},
      {"split_16x16_8cpus", split_arch(16, 16), 8, 3, 15000},
      {"split_0x2_5cpus", split_arch(0, 2), 5, 4, 15000},
  };
  int total = 0;
  for (std::size_t i = 0; i < std::size(configs); ++i) {
    if (!run_differential(configs[i], seed + i)) break;
    total += configs[i].ops;
  }
  EXPECT_GE(total, 100000);
}

// ===================================================================================
// Concurrency: task operations in parallel with CPU-bound ones; no lost update.
// ===================================================================================

TEST(AccountantConcurrency, ParallelTasksAndCpuTargetsLeaveConsistentState) {
  constexpr unsigned kCpus = 8, kThreads = 8, kTasksPerThread = 4, kIters = 6000;
  const ArchInfo arch = arch_x86_64();
  SlotAccountant acc(arch, kCpus);
  struct Live {
    Breakpoint bp;
    Handle h;
  };
  std::vector<std::vector<Live>> finals(kThreads + 1);
  std::atomic<bool> go{false};
  std::atomic<unsigned long> admitted{0}, refused{0};
  const std::uint64_t seed = test_seed();
  std::vector<std::thread> threads;

  for (unsigned t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed + t);
      std::vector<Live>& live = finals[t];
      while (!go.load()) std::this_thread::yield();
      for (unsigned i = 0; i < kIters; ++i) {
        if (rng() % 100 < 55 || live.empty()) {
          Breakpoint b{100 * (t + 1) + rng() % kTasksPerThread,
                       rng() % 2 ? -1 : static_cast<int>(rng() % kCpus), rng() % 4 ? kW : kX, 1};
          auto r = acc.reserve(b);
          if (r.result == Admit::ok) {
            live.push_back({b, r.handle});
            ++admitted;
          } else {
            ++refused;
          }
        } else {
          const std::size_t k = rng() % live.size();
          EXPECT_TRUE(acc.release(live[k].h));
          live[k] = live.back();
          live.pop_back();
        }
        if (i % 512 == 0 && !live.empty()) (void)acc.modify(live[0].h, rng() % 2 ? kRW : kX);
      }
    });
  threads.emplace_back([&] {  // the rare CPU-bound user
    std::mt19937_64 rng(seed + 1000);
    std::vector<Live>& live = finals[kThreads];
    while (!go.load()) std::this_thread::yield();
    for (unsigned i = 0; i < kIters / 2; ++i) {
      if (rng() % 2 || live.empty()) {
        Breakpoint b{kNoTask, static_cast<int>(rng() % kCpus), kW, 1};
        auto r = acc.reserve(b);
        if (r.result == Admit::ok) live.push_back({b, r.handle});
      } else {
        const std::size_t k = rng() % live.size();
        EXPECT_TRUE(acc.release(live[k].h));
        live[k] = live.back();
        live.pop_back();
      }
      (void)acc.usage({kNoTask, static_cast<int>(rng() % kCpus), kW, 1});
    }
  });
  go = true;
  for (auto& th : threads) th.join();
  EXPECT_GT(admitted.load(), 0u);
  EXPECT_GT(refused.load(), 0u);

  // No lost or negative bucket, nothing over-committed.
  ASSERT_EQ(audit(acc), "");
  // The same live set, rebuilt in the oracle (any order fits: every subset of an admissible
  // state is admissible), must give the same answers everywhere.
  AccountantOracle oracle(arch, kCpus);
  std::vector<std::uint64_t> tasks{kNoTask};
  for (unsigned t = 0; t < kThreads; ++t)
    for (unsigned k = 0; k < kTasksPerThread; ++k) tasks.push_back(100 * (t + 1) + k);
  for (auto& v : finals)
    for (Live& l : v) {
      // Types may have changed by modify; the oracle needs the current one. Same pool on x86.
      ASSERT_EQ(oracle.reserve(l.bp).result, Admit::ok) << describe(l.bp);
    }
  for (std::uint64_t task : tasks)
    for (int cpu = -1; cpu < static_cast<int>(kCpus); ++cpu) {
      if (task == kNoTask && cpu < 0) continue;
      const Breakpoint b{task, cpu, kW, 1};
      EXPECT_EQ(acc.usage(b), oracle.usage(b)) << describe(b);
      EXPECT_EQ(acc.fits(b), oracle.fits(b)) << describe(b);
    }
  for (auto& v : finals)
    for (Live& l : v) EXPECT_TRUE(acc.release(l.h));
  EXPECT_FALSE(is_used(acc));
  EXPECT_EQ(audit(acc), "");
}

}  // namespace
}  // namespace hwbp::core
