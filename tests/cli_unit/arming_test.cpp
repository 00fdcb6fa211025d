// The CLI's own engine logic on real parts: SlotArming arms real perf events on this test
// process (through the kernel; no hit is provoked, nothing here writes the watched bytes) with
// the real ptrace delivery and acceptance path behind it; and the acceptance path's filters
// (value filter, --if, --ignore, --max-hits) fed with hits as a delivery would produce them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "hit_acceptance.hpp"
#include "hwbp/error.hpp"
#include "perf/capabilities.hpp"
#include "plan_model.hpp"
#include "ptrace_delivery.hpp"
#include "slot_arming.hpp"
#include "symbols/process_image.hpp"
#include "symbols/symbol_table.hpp"
#include "watch_set.hpp"

namespace hwbp::cli {
namespace {

alignas(8) volatile std::uint64_t g_vars[6];  // watched, never written by these tests

std::vector<WatchSpec> specs_for(std::size_t n) {
  std::vector<WatchSpec> specs;
  for (std::size_t i = 0; i < n; ++i)
    specs.push_back(parse_watch_spec(fmt::format("{:#x}:8:w", reinterpret_cast<std::uintptr_t>(&g_vars[i]))));
  return specs;
}

// The session's parts, wired as Session wires them.
struct Engine {
  explicit Engine(std::vector<WatchSpec> specs, std::FILE* out = stderr)
      : watches(std::move(specs)), reporter(Format::json, out, false),
        acceptor(AcceptanceOptions{}, watches, symbolizer, reporter),
        delivery(watches, symbolizer, acceptor), arming(getpid(), watches, delivery) {
    image = symbols::ProcessImage::open(getpid());
    symbolizer.set_image(image);
    table = std::make_unique<symbols::SymbolTable>(image);
    delivery.set_arming(&arming);
  }
  WatchSet watches;
  Symbolizer symbolizer;
  Reporter reporter;
  HitAcceptor acceptor;
  PtraceDelivery delivery;
  SlotArming arming;
  std::shared_ptr<symbols::ProcessImage> image;
  std::unique_ptr<symbols::SymbolTable> table;
};

void require_breakpoints() {
  const auto& caps = perf::capabilities();
  if (!caps.breakpoints) GTEST_SKIP() << "perf breakpoint events cannot be opened here (errno " << caps.open_errno << ")";
  if (!caps.modify) GTEST_SKIP() << "no PERF_EVENT_IOC_MODIFY_ATTRIBUTES (Linux 4.17+): no rotation";
  if (caps.slots != 4) GTEST_SKIP() << "this test expects the 4 slots of an x86 thread, not " << caps.slots;
}

std::vector<std::uint32_t> on_hardware(const Engine& e) {
  std::vector<std::uint32_t> out;
  for (const Watch& w : e.watches.all())
    if (e.arming.on_hardware(w.id)) out.push_back(w.id.value);
  return out;
}

TEST(CliArming, FlexibleWatchesPinWhatFitsAndRotateTheRestInOrder) {
  require_breakpoints();
  Engine e(specs_for(6));
  e.watches.resolve(*e.table);
  e.arming.set_flexible(std::chrono::milliseconds(1));
  e.arming.arm_resolved();
  ASSERT_EQ(e.arming.rotating(), (std::vector<core::WatchId>{{3}, {4}, {5}}));
  EXPECT_EQ(e.arming.rotation_slots(), 1u);
  EXPECT_TRUE(e.arming.next_rotation().has_value());
  // Three pinned watches and one rotating watch on the hardware at a time, round robin.
  EXPECT_EQ(on_hardware(e), (std::vector<std::uint32_t>{0, 1, 2, 3}));
  e.arming.rotate();
  EXPECT_EQ(on_hardware(e), (std::vector<std::uint32_t>{0, 1, 2, 4}));
  e.arming.rotate();
  EXPECT_EQ(on_hardware(e), (std::vector<std::uint32_t>{0, 1, 2, 5}));
  e.arming.rotate();
  EXPECT_EQ(on_hardware(e), (std::vector<std::uint32_t>{0, 1, 2, 3}));
  for (const Watch& w : e.watches.all()) {
    EXPECT_EQ(w.state, Watch::State::armed);
    EXPECT_EQ(w.rotating, w.id.value >= 3);
    if (!w.rotating) EXPECT_EQ(w.coverage(), 1.0);
    else EXPECT_LT(w.coverage(), 1.0);
  }
  e.arming.close_all();
  EXPECT_TRUE(on_hardware(e).empty());
  for (const Watch& w : e.watches.all()) EXPECT_EQ(w.state, Watch::State::dropped);
}

TEST(CliArming, PlanPredictsWhichWatchesRotate) {
  // `hwbp plan --flexible` and `hwbp run --flexible` apply the same rule (core::pin_then_rotate).
  require_breakpoints();
  std::vector<WatchSpec> specs = specs_for(6);
  specs[1] = parse_watch_spec(fmt::format("{:#x}:13:w", reinterpret_cast<std::uintptr_t>(&g_vars[1]) + 3));
  std::vector<PlanWatch> plan_input;
  for (const auto& s : specs) plan_input.push_back({s.text, s.request()});
  const WatchPlan plan = plan_watches(core::host_arch(), 4, plan_input, true);
  ASSERT_EQ(plan.overflowed, (std::vector<std::size_t>{1, 2, 3, 4, 5}));  // 3 chunks: pins given back
  Engine e(specs);
  e.watches.resolve(*e.table);
  e.arming.set_flexible(std::chrono::milliseconds(1));
  e.arming.arm_resolved();
  std::vector<std::size_t> rotating;
  for (core::WatchId id : e.arming.rotating()) rotating.push_back(id.value);
  EXPECT_EQ(rotating, plan.overflowed);
  e.arming.close_all();
}

TEST(CliArming, WithoutFlexibleAWatchThatDoesNotFitIsRefusedWithTheCount) {
  require_breakpoints();
  Engine e(specs_for(5));
  e.watches.resolve(*e.table);
  try {
    e.arming.arm_resolved();
    FAIL() << "five watches armed on four slots";
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), Errc::no_slots);
    EXPECT_NE(std::string(err.what()).find("needs 1 debug-register slot, but 0 of the 4 slots a thread has are free"),
              std::string::npos) << err.what();
  }
  // The four that fit stay armed; the one refused stays pending.
  EXPECT_EQ(on_hardware(e), (std::vector<std::uint32_t>{0, 1, 2, 3}));
  EXPECT_EQ(e.watches.at(core::WatchId{4}).state, Watch::State::pending);
  e.arming.close_all();
}

TEST(CliArming, TheLoaderHooksSlotIsNamedWhereSlotsRunOut) {
  // Every slot accounted for: where hwbp's own breakpoint on the dynamic loader holds a debug
  // register (no uprobes), a watch refused for want of slots is told which slot that is.
  require_breakpoints();
  Engine e(specs_for(4));
  e.watches.resolve(*e.table);
  e.arming.arm_resolved({core::WatchId{0}, core::WatchId{1}, core::WatchId{2}});
  EXPECT_FALSE(e.arming.loader_slot().has_value());
  EXPECT_EQ(e.arming.own_slots_note(), "");
  e.arming.arm_hook(SessionHook::loader, reinterpret_cast<std::uintptr_t>(&require_breakpoints));
  ASSERT_TRUE(e.arming.loader_slot().has_value());
  EXPECT_EQ(*e.arming.loader_slot(), 3);
  EXPECT_EQ(e.arming.free_slot_count(), 0u);
  try {
    e.arming.arm_resolved({core::WatchId{3}});
    FAIL() << "a fifth slot was found";
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), Errc::no_slots);
    EXPECT_NE(std::string(err.what()).find("0 of the 4 slots a thread has are free (slot 3 is hwbp's own breakpoint "
                                           "on the dynamic loader"),
              std::string::npos) << err.what();
  }
  // Given back: the watch fits, and the message no longer names the hook.
  e.arming.disarm_hook(SessionHook::loader);
  EXPECT_FALSE(e.arming.loader_slot().has_value());
  EXPECT_EQ(e.arming.free_slot_count(), 1u);
  e.arming.arm_resolved({core::WatchId{3}});
  EXPECT_EQ(on_hardware(e), (std::vector<std::uint32_t>{0, 1, 2, 3}));
  e.arming.close_all();
}

// ---- the acceptance path ----

struct Sink {
  Sink(std::vector<WatchSpec> specs, AcceptanceOptions options)
      : watches(std::move(specs)), file(open_memstream(&buf, &len)), reporter(Format::json, file, false),
        acceptor(std::move(options), watches, symbolizer, reporter) {
    symbolizer.set_image(symbols::ProcessImage::open(getpid()));
    for (Watch& w : watches.all()) {
      w.state = Watch::State::armed;
      w.addr = w.spec.addr;
      w.len = w.spec.len;
    }
  }
  ~Sink() {
    std::fclose(file);
    std::free(buf);
  }
  void hit(std::uint32_t watch, std::optional<Bytes> old_bytes, std::optional<Bytes> new_bytes,
           bool filtered = false, bool exact = true) {
    HitEvent h;
    h.old_exact = h.new_exact = exact;
    h.watch = core::WatchId{watch};
    h.tid = getpid();
    h.pc = reinterpret_cast<std::uintptr_t>(&require_breakpoints);
    h.old_bytes = std::move(old_bytes);
    h.new_bytes = std::move(new_bytes);
    h.value_filtered = filtered;
    h.unwind = [](std::size_t) { return std::vector<symbols::Frame>{}; };
    acceptor.accept(std::move(h));
  }
  WatchSet watches;
  Symbolizer symbolizer;
  char* buf = nullptr;
  std::size_t len = 0;
  std::FILE* file;
  Reporter reporter;
  HitAcceptor acceptor;
};

std::vector<WatchSpec> two_specs() {
  return {parse_watch_spec("0x1000:4:modify"), parse_watch_spec("0x2000:4:r")};
}

TEST(CliAcceptance, TheValueFilterIsTheSharedRule) {
  Sink s(two_specs(), {});
  s.hit(0, Bytes{1, 0, 0, 0}, Bytes{1, 0, 0, 0});  // modify, unchanged: dropped
  s.hit(0, Bytes{1, 0, 0, 0}, Bytes{2, 0, 0, 0});  // changed: reported
  s.hit(0, std::nullopt, Bytes{2, 0, 0, 0});       // unknown old: reported, never guessed
  s.hit(1, Bytes{5, 0, 0, 0}, Bytes{5, 0, 0, 0});  // r, unchanged: reported
  s.hit(1, Bytes{5, 0, 0, 0}, Bytes{6, 0, 0, 0});  // r, changed (a write): dropped
  s.hit(1, Bytes{5, 0, 0, 0}, Bytes{6, 0, 0, 0}, true);  // the delivery filtered already
  EXPECT_EQ(s.watches.at(core::WatchId{0}).hits, 2u);
  EXPECT_EQ(s.watches.at(core::WatchId{1}).hits, 2u);
  EXPECT_EQ(s.acceptor.total(), 4u);
}

TEST(CliAcceptance, ConditionIgnoreAndMaxHitsInThatOrder) {
  AcceptanceOptions o;
  o.condition = Condition::parse("new==0");
  o.ignore = 1;
  o.max_hits = 2;
  Sink s(two_specs(), std::move(o));
  s.hit(0, Bytes{1, 0, 0, 0}, Bytes{2, 0, 0, 0});  // --if false: not counted anywhere
  s.hit(0, std::nullopt, Bytes{0, 0, 0, 0});       // --if needs both values: dropped
  s.hit(0, Bytes{1, 0, 0, 0}, Bytes{0, 0, 0, 0});  // --ignore 1 takes it
  EXPECT_EQ(s.acceptor.total(), 0u);
  s.hit(0, Bytes{2, 0, 0, 0}, Bytes{0, 0, 0, 0});  // hit #1
  EXPECT_FALSE(s.acceptor.done());
  s.hit(0, Bytes{3, 0, 0, 0}, Bytes{0, 0, 0, 0});  // hit #2: --max-hits reached
  EXPECT_TRUE(s.acceptor.done());
  s.hit(0, Bytes{4, 0, 0, 0}, Bytes{0, 0, 0, 0});  // after the end: dropped
  EXPECT_EQ(s.acceptor.total(), 2u);
  EXPECT_EQ(s.watches.at(core::WatchId{0}).hits, 2u);
  std::fflush(s.file);
  const std::string out(s.buf, s.len);
  EXPECT_NE(out.find(R"("seq":1,)"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("old":"0x00000002","new":"0x00000000")"), std::string::npos) << out;
  EXPECT_EQ(out.find(R"("seq":3,)"), std::string::npos) << out;
}

// Issue 17: a value that is not exact is unknown to modify / r and --if: the hit is reported
// (marked), never dropped on a guess — a racing store's "unchanged" may be another's value.
TEST(CliAcceptance, ValuesNotExactAreNeverFilteredOn) {
  Sink s(two_specs(), {});
  s.hit(0, Bytes{1, 0, 0, 0}, Bytes{1, 0, 0, 0}, false, false);  // modify, "unchanged" on a guess
  s.hit(1, Bytes{5, 0, 0, 0}, Bytes{6, 0, 0, 0}, false, false);  // r, "changed" on a guess
  EXPECT_EQ(s.acceptor.total(), 2u);
  AcceptanceOptions o;
  o.condition = Condition::parse("new==0");
  Sink c(two_specs(), std::move(o));
  c.hit(0, Bytes{1, 0, 0, 0}, Bytes{2, 0, 0, 0}, false, false);  // --if false on a guess: reported
  c.hit(0, Bytes{1, 0, 0, 0}, Bytes{2, 0, 0, 0});                // --if false on exact values: dropped
  EXPECT_EQ(c.acceptor.total(), 1u);
  std::fflush(s.file);
  const std::string out(s.buf, s.len);
  EXPECT_NE(out.find(R"("exact":false)"), std::string::npos) << out;
}

// Issue 17: hits counted in the kernel that raced (bpf --count of modify) count as not exact.
TEST(CliAcceptance, KernelCountsThatRacedAreNotExact) {
  Sink s(two_specs(), {});
  s.acceptor.accept_count(core::WatchId{0}, reinterpret_cast<std::uintptr_t>(&require_breakpoints), 40);
  s.acceptor.counts_not_exact(core::WatchId{0}, 3);
  s.acceptor.counts_not_exact(core::WatchId{9}, 5);  // not a watch of this session: ignored
  s.reporter.finish(s.watches.all(), s.acceptor.total());
  std::fflush(s.file);
  const std::string out(s.buf, s.len);
  EXPECT_NE(out.find(R"("watch":"0x1000:4:modify","hits":40,"inexact":3})"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("inexact":3,)"), std::string::npos) << out;
}

TEST(CliAcceptance, KernelCountsJoinTheSummaries) {
  Sink s(two_specs(), {});
  s.acceptor.accept_count(core::WatchId{0}, reinterpret_cast<std::uintptr_t>(&require_breakpoints), 40);
  s.acceptor.accept_count(core::WatchId{9}, 0x1234, 5);  // not a watch of this session: ignored
  EXPECT_EQ(s.watches.at(core::WatchId{0}).hits, 40u);
  EXPECT_EQ(s.acceptor.total(), 40u);
}

}  // namespace
}  // namespace hwbp::cli
