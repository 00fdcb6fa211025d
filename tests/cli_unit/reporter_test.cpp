// The four ways of printing hits and their summaries, byte for byte: the formats the CLI scripts
// and users' scripts parse (human blocks, JSON Lines, the --count table, folded stacks).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "delivery.hpp"
#include "hit_report.hpp"
#include "watch_set.hpp"

namespace hwbp::cli {
namespace {

// A Reporter writing into memory.
class Captured {
 public:
  explicit Captured(Format format, bool show_stack = true)
      : file_(open_memstream(&buf_, &len_)), reporter_(format, file_, show_stack) {}
  ~Captured() {
    std::fclose(file_);
    std::free(buf_);
  }
  Reporter& reporter() { return reporter_; }
  std::string text() {
    std::fflush(file_);
    return std::string(buf_, len_);
  }

 private:
  char* buf_ = nullptr;
  std::size_t len_ = 0;
  std::FILE* file_;
  Reporter reporter_;
};

Watch watch_of(const std::string& text, Access access, std::uint64_t addr, std::size_t len) {
  Watch w;
  w.spec = parse_watch_spec(text);
  w.spec.access = access;
  w.state = Watch::State::armed;
  w.label = text;
  w.addr = addr;
  w.len = len;
  return w;
}

HitRecord hit_of(const Watch& w, std::uint64_t seq) {
  HitRecord h;
  h.watch = &w;
  h.seq = seq;
  h.tid = 4242;
  h.thread_name = "worker-2";
  h.ip = 0x5000;
  h.site = Site{0x4ffd, "record_failures", "stray_write.c", 47, "stray_write", false};
  h.instruction = "mov [rax], edx";
  h.old_bytes = Bytes{3, 0, 0, 0};
  h.new_bytes = Bytes{4, 0, 0, 0};
  h.stack = {h.site, Site{0x5100, "run_worker", "stray_write.c", 59, "stray_write", false}};
  return h;
}

TEST(Reporter, HumanBlock) {
  const Watch w = watch_of("max_retries", Access::modify, 0x556d0064, 4);
  Captured out(Format::human);
  out.reporter().hit(hit_of(w, 2));
  EXPECT_EQ(out.text(),
            "hit #2: max_retries [modify] 4 bytes at 0x556d0064, thread 4242 (worker-2)\n"
            "  old 0x00000003 (3) -> new 0x00000004 (4)\n"
            "  in record_failures at stray_write.c:47\n"
            "  instruction 0x4ffd: mov [rax], edx\n"
            "  stack:\n"
            "    #0 0x4ffd record_failures at stray_write.c:47\n"
            "    #1 0x5100 run_worker at stray_write.c:59\n");
}

TEST(Reporter, HumanValuesSignedUnknownAndLong) {
  const Watch w = watch_of("0x1000:1:w", Access::write, 0x1000, 1);
  Captured out(Format::human, false);
  HitRecord h = hit_of(w, 1);
  h.old_bytes.reset();      // unknown (not proven at arming)
  h.new_bytes = Bytes{0xff};  // top bit set: the signed reading too
  h.async = true;
  out.reporter().hit(h);
  const std::string t = out.text();
  EXPECT_NE(t.find("  old unknown -> new 0xff (255 = -1)\n"), std::string::npos) << t;
  EXPECT_NE(t.find("  note: SIGTRAP was blocked in the program"), std::string::npos) << t;
  EXPECT_EQ(t.find("stack:"), std::string::npos);  // no stacks asked for
}

TEST(Reporter, HumanKernelMadeStoreSaysWhichSyscall) {
  const Watch w = watch_of("buf:16:w", Access::write, 0x2000, 16);
  Captured out(Format::human, false);
  HitRecord h = hit_of(w, 1);
  h.old_bytes = Bytes(16, 0);
  h.new_bytes = Bytes(16, 0x61);
  h.made_by = "read";
  out.reporter().hit(h);
  const std::string t = out.text();
  EXPECT_NE(t.find("  old [00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00] -> new [61 61"), std::string::npos) << t;
  EXPECT_NE(t.find("  made by the kernel, for the program's read() system call\n"), std::string::npos) << t;
}

TEST(Reporter, ReadAndExecBlocks) {
  const Watch r = watch_of("flag:r", Access::read, 0x3000, 4);
  const Watch x = watch_of("0x401000:x", Access::exec, 0x401000, 1);
  Captured out(Format::human, false);
  out.reporter().hit(hit_of(r, 1));
  out.reporter().hit(hit_of(x, 2));
  const std::string t = out.text();
  EXPECT_NE(t.find("  read (emulated on x86: an rw hit that left the value unchanged)\n"
                   "  value 0x00000004 (4)\n"), std::string::npos) << t;
  const std::string exec_block = t.substr(t.find("hit #2"));
  EXPECT_EQ(exec_block.find("old "), std::string::npos) << exec_block;          // no values
  EXPECT_EQ(exec_block.find("instruction"), std::string::npos) << exec_block;   // nor access
}

TEST(Reporter, JsonLineAndSummary) {
  Watch w = watch_of("counter:8:w", Access::write, 0x4010, 8);
  Captured out(Format::json);
  HitRecord h = hit_of(w, 1);
  h.old_bytes = Bytes{1, 0, 0, 0, 0, 0, 0, 0};
  h.new_bytes = Bytes{2, 0, 0, 0, 0, 0, 0, 0};
  h.stack.resize(1);
  out.reporter().hit(h);
  w.hits = 1;
  out.reporter().set_delivery("bpf", 3);
  out.reporter().finish({w}, 1);
  EXPECT_EQ(out.text(),
            R"({"event":"hit","seq":1,"watch":"counter:8:w","tid":4242,"thread":"worker-2",)"
            R"("addr":"0x4010","len":8,"access":"w","ip":"0x5000","insn_addr":"0x4ffd",)"
            R"("instruction":"mov [rax], edx","func":"record_failures","file":"stray_write.c",)"
            R"("line":47,"old":"0x0000000000000001","new":"0x0000000000000002","async":false,"exact":true,)"
            R"("stack":[{"ip":"0x4ffd","func":"record_failures","file":"stray_write.c","line":47}]})"
            "\n"
            R"({"event":"summary","hits":1,"watches":[{"watch":"counter:8:w","hits":1}],"inexact":0,"mode":"bpf","lost":3})"
            "\n");
}

TEST(Reporter, ValuesNotExactAreMarkedAndCounted) {
  Watch w = watch_of("race", Access::write, 0x4010, 8);
  HitRecord h = hit_of(w, 1);
  h.old_bytes = Bytes{1, 0, 0, 0, 0, 0, 0, 0};
  h.new_bytes = Bytes{2, 0, 0, 0, 0, 0, 0, 0};
  h.old_exact = false;
  Captured json(Format::json);
  json.reporter().hit(h);
  w.hits = 1;
  json.reporter().finish({w}, 1);
  EXPECT_NE(json.text().find(R"("async":false,"exact":false,"old_exact":false,"new_exact":true,)"), std::string::npos)
      << json.text();
  EXPECT_NE(json.text().find(R"("watches":[{"watch":"race","hits":1,"inexact":1}],"inexact":1,)"), std::string::npos)
      << json.text();
  Captured human(Format::human);
  human.reporter().hit(h);
  human.reporter().finish({w}, 1);
  EXPECT_NE(human.text().find("old 0x0000000000000001 (1) [not exact] -> new 0x0000000000000002 (2)\n"),
            std::string::npos) << human.text();
  EXPECT_NE(human.text().find("hwbp: 1 hit with a value not exact"), std::string::npos) << human.text();
  EXPECT_NE(json.text().find(R"("not_exact_why":"race")"), std::string::npos) << json.text();
  EXPECT_NE(human.text().find("note: other threads wrote these bytes at the same time"), std::string::npos)
      << human.text();
}

TEST(Reporter, ValuesNotExactNextToALostHitSaySo) {
  Watch w = watch_of("shared", Access::write, 0x4010, 8);
  HitRecord h = hit_of(w, 1);
  h.old_bytes = Bytes{1, 0, 0, 0, 0, 0, 0, 0};
  h.new_bytes = Bytes{3, 0, 0, 0, 0, 0, 0, 0};
  h.old_exact = false;
  h.near_lost = true;
  Captured json(Format::json);
  json.reporter().hit(h);
  w.hits = 1;
  w.lost = 1;
  json.reporter().finish({w}, 1);
  EXPECT_NE(json.text().find(R"("exact":false,"old_exact":false,"new_exact":true,"not_exact_why":"lost hit")"),
            std::string::npos) << json.text();
  EXPECT_NE(json.text().find(R"({"watch":"shared","hits":1,"lost":1,"inexact":1})"), std::string::npos) << json.text();
  Captured human(Format::human);
  human.reporter().hit(h);
  human.reporter().finish({w}, 1);
  EXPECT_NE(human.text().find("old 0x0000000000000001 (1) [not exact] -> new 0x0000000000000003 (3)\n"),
            std::string::npos) << human.text();
  EXPECT_NE(human.text().find("whose hit never reached hwbp (lost"), std::string::npos) << human.text();
  EXPECT_NE(human.text().find("shared: 1 (1 lost)"), std::string::npos) << human.text();
}

TEST(Reporter, JsonSummaryShowsCoverageOnlyWhenFlexible) {
  Watch w = watch_of("g3", Access::modify, 0x4000, 4);
  w.rotating = true;
  Captured out(Format::json);
  out.reporter().set_show_coverage(true);
  out.reporter().finish({w}, 0);
  EXPECT_NE(out.text().find(R"({"watch":"g3","hits":0,"coverage":0.0,"rotating":true})"), std::string::npos)
      << out.text();
}

TEST(Reporter, CountTableByWatchFunctionAndLine) {
  Watch w = watch_of("hot", Access::modify, 0x4000, 8);
  Captured out(Format::count);
  HitRecord a = hit_of(w, 1), b = hit_of(w, 2);
  b.site = Site{0x6000, "other", "busy.c", 12, "busy", false};
  out.reporter().hit(a);
  out.reporter().count(b, 5);  // counted in the kernel (bpf --count)
  out.reporter().hit(a);
  out.reporter().finish({w}, 7);
  EXPECT_EQ(out.text(),
            "    hits  watch                function                 location\n"
            "       5  hot                  other                    busy.c:12\n"
            "       2  hot                  record_failures          stray_write.c:47\n");
}

// Issue 17: counts of a watch whose hits raced (counted in the kernel: bpf --count of modify; or
// delivered with a value not exact) are marked, with a note saying why; other watches are not.
TEST(Reporter, CountTableMarksCountsThatRaced) {
  Watch w = watch_of("hot", Access::modify, 0x4000, 8), calm = watch_of("calm", Access::modify, 0x5000, 8);
  calm.id = core::WatchId{1};
  Captured out(Format::count);
  HitRecord a = hit_of(w, 1), c = hit_of(calm, 2);
  out.reporter().count(a, 5);
  out.reporter().counts_not_exact(w, 3);
  out.reporter().count(c, 2);
  out.reporter().finish({w, calm}, 7);
  EXPECT_EQ(out.text(),
            "    hits  watch                function                 location\n"
            "       5  hot                  record_failures          stray_write.c:47  [not exact]\n"
            "       2  calm                 record_failures          stray_write.c:47\n"
            "hwbp: counts of 'hot' marked [not exact]: 3 hits raced with another thread's store to its bytes (or lay "
            "next to a lost hit), so whether they changed the value is not known exactly; see docs/semantics.md, "
            "\"Racing writers\"\n");
  Captured delivered(Format::count);
  HitRecord d = hit_of(w, 1);
  d.old_exact = false;
  delivered.reporter().hit(d);
  delivered.reporter().finish({w}, 1);
  EXPECT_NE(delivered.text().find("record_failures          stray_write.c:47  [not exact]\n"), std::string::npos)
      << delivered.text();
}

TEST(Reporter, FoldedStacksOutermostFirst) {
  Watch w = watch_of("hot", Access::modify, 0x4000, 8);
  Captured out(Format::folded);
  HitRecord h = hit_of(w, 1);
  out.reporter().hit(h);
  out.reporter().hit(h);
  h.stack[1].func.clear();  // unknown frames are named by address
  out.reporter().hit(h);
  out.reporter().finish({w}, 3);
  EXPECT_EQ(out.text(), "0x5100;record_failures 1\nrun_worker;record_failures 2\n");
}

TEST(Reporter, HumanSummaryWithAndWithoutCoverage) {
  Watch a = watch_of("a", Access::modify, 0x4000, 4), b = watch_of("b", Access::modify, 0x4008, 4);
  a.hits = 1;
  b.hits = 2;
  {
    Captured out(Format::human);
    out.reporter().finish({a, b}, 3);
    EXPECT_EQ(out.text(), "hwbp: 3 hits (a: 1, b: 2)\n");
  }
  Captured out(Format::human);
  out.reporter().set_show_coverage(true);
  out.reporter().finish({a}, 1);
  EXPECT_EQ(out.text(), "hwbp: 1 hit (a: 1 hit, armed 0% of the time)\n");
}

TEST(Reporter, PageEngineHitsNameTheirEngine) {
  Watch w = watch_of("max_retries", Access::modify, 0x4010, 4);
  w.mechanism = core::Mechanism::page_protection;
  HitRecord h = hit_of(w, 1);
  Captured human(Format::human, false);
  human.reporter().hit(h);
  EXPECT_NE(human.text().find("\n  engine: page protection\n"), std::string::npos) << human.text();
  Captured json(Format::json);
  json.reporter().hit(h);
  json.reporter().finish({w}, 1);
  EXPECT_NE(json.text().find(",\"engine\":\"page_protection\",\"stack\":["), std::string::npos) << json.text();
  EXPECT_NE(json.text().find("{\"watch\":\"max_retries\",\"hits\":0,\"engine\":\"page_protection\"}"),
            std::string::npos) << json.text();
  // Debug-register hits keep their human block as it was.
  w.mechanism = core::Mechanism::debug_registers;
  Captured hw(Format::human, false);
  hw.reporter().hit(hit_of(w, 1));
  EXPECT_EQ(hw.text().find("engine"), std::string::npos) << hw.text();
}

TEST(Reporter, WatchEndedLineAndJsonEvent) {
  Watch w = watch_of("0x7f0000001008:1:w", Access::write, 0x7f0000001008, 1);
  const Site site{0x7f00000a0a05, "__munmap", "syscall-template.S", 117, "libc.so.6", false};
  Captured human(Format::human);
  human.reporter().watch_ended(w, 77, site, "its memory was unmapped by munmap");
  EXPECT_EQ(human.text(), "hwbp: watch '0x7f0000001008:1:w' ended: its memory was unmapped by munmap "
                          "(thread 77, in __munmap at syscall-template.S:117)\n");
  Captured json(Format::json);
  json.reporter().watch_ended(w, 77, site, "its memory was unmapped by munmap");
  EXPECT_EQ(json.text(), "{\"event\":\"watch_ended\",\"watch\":\"0x7f0000001008:1:w\",\"reason\":"
                         "\"its memory was unmapped by munmap\",\"tid\":77,\"ip\":\"0x7f00000a0a05\","
                         "\"func\":\"__munmap\",\"file\":\"syscall-template.S\",\"line\":117}\n");
  Captured exec(Format::human);
  exec.reporter().watch_ended(w, 0, Site{}, "the program called execve: its address space was replaced");
  EXPECT_EQ(exec.text(), "hwbp: watch '0x7f0000001008:1:w' ended: the program called execve: its address "
                         "space was replaced\n");
}

}  // namespace
}  // namespace hwbp::cli

namespace hwbp::cli {
namespace {

// Typed values (symbols/typed_value.hpp): a watch with a layout gets a typed line per member
// written after the raw line, and JSON type/member/old_value/new_value after "new".
std::shared_ptr<symbols::ValueLayout> typed_scalar(symbols::ValueLayout::Kind kind, std::uint64_t size,
                                                   std::string type) {
  auto l = std::make_shared<symbols::ValueLayout>();
  l->kind = kind;
  l->size = size;
  l->type = std::move(type);
  return l;
}

Watch config_watch() {
  Watch w = watch_of("cfg", Access::modify, 0x4000, 16);
  auto cfg = std::make_shared<symbols::ValueLayout>();
  cfg->kind = symbols::ValueLayout::Kind::aggregate;
  cfg->type = "struct config";
  cfg->size = 16;
  cfg->fields = {{"retries", 0, typed_scalar(symbols::ValueLayout::Kind::signed_int, 4, "int")},
                 {"ratio", 8, typed_scalar(symbols::ValueLayout::Kind::floating, 8, "double")}};
  w.layout = cfg;
  return w;
}

TEST(Reporter, TypedMemberLineAfterTheRawValues) {
  const Watch w = config_watch();
  Captured out(Format::human, false);
  HitRecord h = hit_of(w, 1);
  h.old_bytes = Bytes(16, 0);
  h.new_bytes = Bytes(16, 0);
  h.old_bytes->at(0) = 3;
  h.new_bytes->at(0) = 4;
  out.reporter().hit(h);
  const std::string t = out.text();
  EXPECT_NE(t.find("  old [03 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00] -> new [04 00"), std::string::npos) << t;
  EXPECT_NE(t.find("]\n  cfg.retries: 3 -> 4 (int)\n  in record_failures"), std::string::npos) << t;
}

TEST(Reporter, TypedJsonFieldsAndTheWholeValueOfAnUnchangedStore) {
  const Watch w = config_watch();
  Captured out(Format::json, false);
  HitRecord h = hit_of(w, 1);
  h.old_bytes = Bytes(16, 0);
  h.new_bytes = Bytes(16, 0);
  h.new_bytes->at(0) = 4;
  h.stack.clear();
  out.reporter().hit(h);
  h.old_bytes = h.new_bytes;  // a same-value store of unknown operand: the whole value
  out.reporter().hit(h);
  const std::string t = out.text();
  EXPECT_NE(t.find(R"("new":"0x00000000000000000000000000000004","type":"int","member":"cfg.retries","old_value":"0","new_value":"4","async")"),
            std::string::npos) << t;
  EXPECT_NE(t.find(R"("type":"struct config","member":null,"old_value":"{retries = 4, ratio = 0}","new_value":"{retries = 4, ratio = 0}")"),
            std::string::npos) << t;
  Captured human(Format::human, false);
  human.reporter().hit(h);
  EXPECT_NE(human.text().find("  cfg = {retries = 4, ratio = 0} (struct config, unchanged)\n"), std::string::npos)
      << human.text();
}

TEST(Reporter, UntypedWatchesKeepTheirShape) {
  const Watch w = watch_of("0x4000:4", Access::modify, 0x4000, 4);
  Captured out(Format::json, false);
  HitRecord h = hit_of(w, 1);
  out.reporter().hit(h);
  EXPECT_EQ(out.text().find("\"type\""), std::string::npos) << out.text();
}

}  // namespace
}  // namespace hwbp::cli
