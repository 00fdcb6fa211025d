// What the CLI's reporter needs from a page hit, through the same symbols layer it uses for
// hardware hits: the storing instruction's function and line, and a stack unwound from the live
// thread (libdwfl) inside the hit callback, while the thread is stopped.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <memory>
#include <string>

#include "support/page_tracer.hpp"
#include "support/report_line.hpp"
#include "support/traced_child.hpp"
#include "symbols/process_image.hpp"
#include "symbols/source_locator.hpp"
#include "symbols/unwinder.hpp"

namespace hwbp::ptrace {
namespace {

using test::address_field;
using test::PageTracer;
using test::TracedChild;

TEST(PageUnwind, HitCarriesWhatTheReporterNeeds) {
  TracedChild c({std::string(HWBP_PTRACE_PROGRAMS) + "/page_misc", "modify"});
  PageTracer t(c);
  t.on_arm_point = [&](pid_t tid) {
    auto line = c.read_line();
    ASSERT_TRUE(line);
    t.transport().arm(tid, address_field(*line, "same"), 8, Access::modify);
  };
  std::shared_ptr<symbols::ProcessImage> image;
  std::vector<std::string> sites, stacks;
  t.on_hit = [&](const PageHit& h) {
    if (!image) {
      image = symbols::ProcessImage::open(c.pid());
      image->attach_for_unwinding(true);
    }
    symbols::SourceLocator locator(image);
    auto at = locator.locate(h.pc);
    sites.push_back(at ? at->function + ":" + std::to_string(at->line) : "?");
    // The thread is stopped with its registers after the store: frame 0 is the next
    // instruction, as for a hardware data breakpoint's trap.
    auto frames = symbols::backtrace_thread(*image, h.tid, true, 8);
    std::string stack = frames.empty() || frames[0].pc != h.next_ip ? "frame0-mismatch" : "";
    for (const auto& f : frames)
      if (auto loc = locator.locate(f.lookup_address())) stack += loc->function + " ";
    stacks.push_back(stack);
  };
  int status = t.run();
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_EQ(sites.size(), 2u);
  for (const std::string& s : sites) EXPECT_EQ(s.rfind("main:", 0), 0u) << s;
  EXPECT_NE(sites[0], "main:0");
  for (const std::string& s : stacks) EXPECT_EQ(s.rfind("main ", 0), 0u) << s;
}

}  // namespace
}  // namespace hwbp::ptrace
