// core::SlotAccountant against the real kernel: real PERF_TYPE_BREAKPOINT events, task-bound (on
// helper threads this test creates) and CPU-bound (root or CAP_PERFMON), in scripted and random
// sequences. Every admit / ENOSPC the kernel returns must be the one the model predicted for the
// host's possible CPUs and slot count. Plain syscalls only (independent of src/perf).
//
// CPU-bound events constrain every task on the machine and every task's breakpoints constrain
// them, so another process holding breakpoints while this runs can change the kernel's answers.
// A sequence that disagrees is therefore re-checked against a clean baseline and retried with the
// same seed; a model bug disagrees every time, interference does not.
#include <linux/hw_breakpoint.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/slot_accountant.hpp"
#include "support/slot_accountant_audit.hpp"
#include "support/slot_holders.hpp"

namespace {

using hwbp::core::Admit;
using hwbp::core::ArchInfo;
using hwbp::core::Breakpoint;
using hwbp::core::BpType;
using hwbp::core::kNoTask;
using hwbp::core::SlotAccountant;

alignas(64) volatile std::uint64_t g_acct_vars[64];  // watched (never written while watched)
__attribute__((noinline, noipa)) void acct_exec_target() { asm volatile("" ::: "memory"); }

constexpr BpType kW = HW_BREAKPOINT_W, kX = HW_BREAKPOINT_X;

// "0-3,5,7-8" -> {0,1,2,3,5,7,8}.
std::vector<int> parse_cpu_list(const std::string& text) {
  std::vector<int> out;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (part.empty() || part == "\n") continue;
    const auto dash = part.find('-');
    const int lo = std::atoi(part.c_str());
    const int hi = dash == std::string::npos ? lo : std::atoi(part.c_str() + dash + 1);
    for (int c = lo; c <= hi; ++c) out.push_back(c);
  }
  return out;
}

std::vector<int> read_cpu_list(const char* path) {
  std::ifstream f(path);
  std::string line;
  if (!f || !std::getline(f, line)) return {};
  return parse_cpu_list(line);
}

// The kernel checks cpu_possible_mask for cpu == -1 task breakpoints.
std::vector<int> possible_cpus() {
  std::vector<int> cpus = read_cpu_list("/sys/devices/system/cpu/possible");
  if (cpus.empty())
    for (long c = 0, n = ::sysconf(_SC_NPROCESSORS_CONF); c < n; ++c) cpus.push_back(static_cast<int>(c));
  return cpus;
}

// A thread that only waits: a task target nobody else has touched.
class IdleThread {
 public:
  IdleThread() {
    std::promise<pid_t> tid;
    auto fut = tid.get_future();
    th_ = std::thread([this, &tid] {
      tid.set_value(static_cast<pid_t>(::syscall(SYS_gettid)));
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_; });
    });
    tid_ = fut.get();
  }
  ~IdleThread() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    th_.join();
  }
  pid_t tid() const { return tid_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread th_;
  pid_t tid_ = 0;
};

struct OpenResult {
  int fd = -1;
  int err = 0;
};

// perf_event_open of a disabled, user-only breakpoint: W on an 8-byte variable or X on a function.
OpenResult open_bp(BpType type, pid_t pid, int cpu, unsigned var) {
  perf_event_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.type = PERF_TYPE_BREAKPOINT;
  attr.size = sizeof attr;
  attr.bp_type = type;
  if (type == kX) {
    attr.bp_addr = reinterpret_cast<std::uintptr_t>(&acct_exec_target);
    attr.bp_len = sizeof(long);
  } else {
    attr.bp_addr = reinterpret_cast<std::uintptr_t>(&g_acct_vars[var % 64]);
    attr.bp_len = HW_BREAKPOINT_LEN_8;
  }
  attr.disabled = 1;  // accounting happens at creation; nothing needs to fire
  attr.exclude_kernel = 1;
  attr.exclude_hv = 1;
  const long fd = ::syscall(SYS_perf_event_open, &attr, pid, cpu, -1, 0UL);
  if (fd < 0) return {-1, errno};
  return {static_cast<int>(fd), 0};
}

// Why a test cannot run here, or "" when it can.
struct Host {
  std::vector<int> possible;  // model CPU index -> kernel CPU id
  std::vector<int> online;    // indices into `possible` that are online (CPU-bound targets)
  ArchInfo arch{};
  std::string unsupported;    // non-empty: no model of this machine's slots
  std::string cpu_bound_denied;  // non-empty: CPU-bound events not permitted
};

Host probe_host() {
  Host h;
  h.possible = possible_cpus();
  const std::vector<int> online = read_cpu_list("/sys/devices/system/cpu/online");
  for (std::size_t i = 0; i < h.possible.size(); ++i)
    for (int c : online)
      if (c == h.possible[i]) h.online.push_back(static_cast<int>(i));
#if defined(__x86_64__)
  h.arch = hwbp::core::arch_x86_64();  // HBP_NUM 4, one mixed pool
#else
  h.unsupported = "slot counts of this architecture are only known to the perf probe; model covers x86-64 here";
  return h;
#endif
  {
    IdleThread t;
    OpenResult r = open_bp(kW, t.tid(), -1, 0);
    if (r.fd < 0) {
      h.unsupported = std::string("cannot open a task breakpoint: ") + std::strerror(r.err);
      return h;
    }
    ::close(r.fd);
  }
  if (h.online.empty()) {
    h.cpu_bound_denied = "no online CPU found";
    return h;
  }
  OpenResult r = open_bp(kW, -1, h.possible[static_cast<std::size_t>(h.online[0])], 0);
  if (r.fd < 0)
    h.cpu_bound_denied = std::string("CPU-bound breakpoint events need root or CAP_PERFMON (") +
                         std::strerror(r.err) + ")";
  else
    ::close(r.fd);
  return h;
}

const Host& host() {
  static const Host h = probe_host();
  return h;
}

// Replays operations on the kernel and on the model side by side.
class Differ {
 public:
  explicit Differ(const Host& h)
      : host_(h), model_(h.arch, static_cast<unsigned>(h.possible.size())) {}
  ~Differ() { close_all(); }

  // Opens `bp` (task = a tid, cpu = model index or -1) in the kernel and in the model. Returns the
  // kernel's outcome; disagreements are recorded. Either way both sides end up equal.
  Admit open(const Breakpoint& bp) {
    ++step_;
    const Admit predicted = model_.fits(bp);
    const int kcpu = bp.cpu < 0 ? -1 : host_.possible[static_cast<std::size_t>(bp.cpu)];
    const OpenResult r = open_bp(bp.type, bp.task == kNoTask ? -1 : static_cast<pid_t>(bp.task), kcpu, var_++);
    Admit kernel;
    if (r.fd >= 0) {
      kernel = Admit::ok;
    } else if (r.err == ENOSPC) {
      kernel = Admit::no_space;
    } else {
      std::ostringstream os;
      os << "step " << step_ << ": " << describe(bp) << ": unexpected errno " << r.err << " ("
         << std::strerror(r.err) << ")";
      errors_.push_back(os.str());
      return Admit::invalid_argument;
    }
    if (kernel != predicted) {
      const hwbp::core::Usage u = model_.usage(bp);
      std::ostringstream os;
      os << "step " << step_ << ": " << describe(bp) << ": kernel " << to_string(kernel) << ", model predicted "
         << to_string(predicted) << " (model need " << u.need() << " = cpu_pinned " << u.cpu_pinned
         << " + task " << u.task_load << " on cpu " << u.cpu << ", slots " << u.slots << ")";
      mismatches_.push_back(os.str());
    }
    if (kernel == Admit::ok) {
      if (predicted == Admit::ok) {
        auto res = model_.reserve(bp);
        open_.push_back({r.fd, res.handle});
      } else {
        ::close(r.fd);  // keep the two sides equal
      }
    }
    return kernel;
  }

  std::size_t live() const { return open_.size(); }
  void close_at(std::size_t i) {
    ::close(open_[i].fd);
    EXPECT_TRUE(model_.release(open_[i].h));
    open_[i] = open_.back();
    open_.pop_back();
  }
  void close_all() {
    while (!open_.empty()) close_at(open_.size() - 1);
  }
  SlotAccountant& model() { return model_; }
  const std::vector<std::string>& mismatches() const { return mismatches_; }
  const std::vector<std::string>& errors() const { return errors_; }
  int steps() const { return step_; }

  static std::string describe(const Breakpoint& bp) {
    std::ostringstream os;
    os << (bp.type == kX ? "X " : "W ") << (bp.task == kNoTask ? std::string("cpu") : "tid " + std::to_string(bp.task))
       << "@" << (bp.cpu < 0 ? std::string("all") : "cpu-index " + std::to_string(bp.cpu));
    return os.str();
  }

 private:
  struct Ev {
    int fd;
    SlotAccountant::Handle h;
  };
  const Host& host_;
  SlotAccountant model_;
  std::vector<Ev> open_;
  std::vector<std::string> mismatches_, errors_;
  int step_ = 0;
  unsigned var_ = 0;
};

// The machine is clean for this test if a fresh thread gets exactly S task breakpoints and, when
// CPU-bound events are allowed, every online CPU takes exactly S CPU-bound ones.
std::string baseline_dirty(const Host& h, bool cpu_bound) {
  const unsigned s = h.arch.data_slots;
  std::vector<int> fds;
  auto close_fds = [&] {
    for (int fd : fds) ::close(fd);
    fds.clear();
  };
  std::string why;
  {
    IdleThread t;
    for (unsigned i = 0; i <= s && why.empty(); ++i) {
      OpenResult r = open_bp(kW, t.tid(), -1, i);
      if (r.fd >= 0) fds.push_back(r.fd);
      if (i < s && r.fd < 0) why = "a fresh thread got only " + std::to_string(i) + " breakpoints";
      if (i == s && r.fd >= 0) why = "a fresh thread got more than " + std::to_string(s) + " breakpoints";
    }
    close_fds();
  }
  if (cpu_bound)
    for (int idx : h.online) {
      const int cpu = h.possible[static_cast<std::size_t>(idx)];
      for (unsigned i = 0; i <= s && why.empty(); ++i) {
        OpenResult r = open_bp(kW, -1, cpu, i);
        if (r.fd >= 0) fds.push_back(r.fd);
        if (i < s && r.fd < 0) why = "CPU " + std::to_string(cpu) + " took only " + std::to_string(i) + " CPU-bound breakpoints";
        if (i == s && r.fd >= 0) why = "CPU " + std::to_string(cpu) + " took more than " + std::to_string(s);
      }
      close_fds();
    }
  return why;
}

// Other processes (e.g. other test binaries) may hold breakpoints for a moment: wait up to ~3 s
// for a clean machine before giving up.
std::string wait_for_clean_baseline(const Host& h, bool cpu_bound) {
  std::string why;
  for (int i = 0; i < 30; ++i) {
    why = baseline_dirty(h, cpu_bound);
    if (why.empty()) return why;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return why;
}

// Runs `sequence` up to three times until the kernel and the model agree on every step.
template <typename Seq>
void run_differential(bool cpu_bound, Seq&& sequence) {
  const Host& h = host();
  if (!h.unsupported.empty()) GTEST_SKIP() << h.unsupported;
  if (cpu_bound && !h.cpu_bound_denied.empty()) GTEST_SKIP() << h.cpu_bound_denied;
  if (std::string why = wait_for_clean_baseline(h, cpu_bound); !why.empty())
    GTEST_SKIP() << "breakpoints held outside this test: " << why << " ("
                 << (hwbp::test::perf_event_holders().empty()
                         ? std::string("no other process with perf events visible here")
                         : "perf events open in " + hwbp::test::perf_event_holders())
                 << ")";
  std::vector<std::string> first;
  int steps = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::vector<std::string> mismatches, errors;
    {
      Differ d(h);
      sequence(d);
      mismatches = d.mismatches();
      errors = d.errors();
      steps = d.steps();
      d.close_all();
      EXPECT_FALSE(is_used(d.model()));
      EXPECT_EQ(audit(d.model()), "");
    }
    for (const std::string& e : errors) ADD_FAILURE() << e;
    if (!errors.empty()) return;
    if (mismatches.empty()) {
      ::testing::Test::RecordProperty("kernel_steps", steps);
      return;
    }
    if (first.empty()) first = mismatches;
    if (std::string why = wait_for_clean_baseline(h, cpu_bound); !why.empty())
      GTEST_SKIP() << "breakpoints appeared outside this test during the run (" << why
                   << "; perf events open in: "
                   << (hwbp::test::perf_event_holders().empty() ? std::string("no visible process")
                                                                : hwbp::test::perf_event_holders())
                   << "); first mismatch: " << mismatches.front();
  }
  for (const std::string& m : first) ADD_FAILURE() << m;
}

std::uint64_t seed_from_env() {
  if (const char* env = std::getenv("HWBP_SEED")) return std::strtoull(env, nullptr, 0);
  return std::random_device{}() ^ (std::uint64_t{std::random_device{}()} << 32);
}

// --- scripted: the KUnit scenarios (hw_breakpoint_test.c) on the real kernel ----------------

TEST(AccountantKernel, TaskTargetsScriptedMatchModel) {
  run_differential(false, [](Differ& d) {
    IdleThread cur, oth;
    const std::uint64_t a = static_cast<std::uint64_t>(cur.tid()), b = static_cast<std::uint64_t>(oth.tid());
    const unsigned s = host().arch.data_slots;
    const int c0 = 0, c1 = d.model().ncpus() > 1 ? 1 : 0;
    auto fill = [&](std::uint64_t t, int cpu, unsigned n, BpType ty = kW) {
      for (unsigned i = 0; i < n; ++i) d.open({t, cpu, ty, 1});
    };
    // one task on all CPUs, then one more of each kind
    fill(a, -1, s);
    d.open({a, -1, kW, 1});
    d.open({a, c0, kW, 1});
    d.open({a, -1, kX, 1});  // x86: X shares the one pool
    // tasks are independent
    fill(b, -1, s);
    d.open({b, c1, kW, 1});
    d.close_all();
    // one task on one CPU: other CPUs keep their room for cpu == -1 ... which is still refused
    fill(a, c0, s);
    d.open({a, -1, kW, 1});
    d.open({a, c1, kW, 1});
    d.close_all();
    // mixed: all -> CPU-specific -> all
    fill(a, -1, s - 2);
    d.open({a, c0, kX, 1});
    d.open({a, -1, kW, 1});
    d.open({a, -1, kW, 1});
    d.open({a, c0, kW, 1});
    d.open({a, c1, kW, 1});
    d.open({a, c1, kW, 1});
    d.close_all();  // before the threads exit
  });
}

TEST(AccountantKernel, KUnitScenariosWithCpuTargetsMatchModel) {
  if (host().online.size() < 2) GTEST_SKIP() << "needs 2 online CPUs, like the KUnit suite";
  run_differential(true, [](Differ& d) {
    IdleThread cur_t, oth_t;
    const std::uint64_t cur = static_cast<std::uint64_t>(cur_t.tid()), oth = static_cast<std::uint64_t>(oth_t.tid());
    const unsigned s = host().arch.data_slots;
    const int c0 = host().online[0], c1 = host().online[1];
    auto fill = [&](int cpu, std::uint64_t t, unsigned skip) {
      for (unsigned i = 0; i + skip < s; ++i) d.open({t, cpu, kW, 1});
    };
    auto one = [&](int cpu, std::uint64_t t) { d.open({t, cpu, kW, 1}); };
    auto close_first = [&] { d.close_at(0); };  // the oldest open breakpoint
    // test_one_cpu
    fill(c0, kNoTask, 0); one(-1, cur); one(c0, kNoTask);
    d.close_all();
    // test_many_cpus
    for (int idx : host().online) { fill(idx, kNoTask, 0); one(idx, kNoTask); }
    d.close_all();
    // test_one_task_on_all_cpus
    fill(-1, cur, 0); one(-1, cur); one(c0, cur); one(c0, kNoTask); close_first(); one(c0, kNoTask);
    d.close_all();
    // test_two_tasks_on_all_cpus
    fill(-1, cur, 0); fill(-1, oth, 0);
    one(-1, cur); one(-1, oth); one(c0, cur); one(c0, oth); one(c0, kNoTask);
    close_first(); one(c0, kNoTask);
    d.close_all();
    // test_one_task_on_one_cpu
    fill(c0, cur, 0); one(-1, cur); one(c0, cur); one(c0, kNoTask); close_first(); one(c0, kNoTask);
    d.close_all();
    // test_one_task_mixed
    one(c0, cur); fill(-1, cur, 1); one(-1, cur); one(c0, cur); one(c0, kNoTask);
    d.close_at(0); d.close_at(0);  // two of cur's (which ones differs from KUnit; both sides agree)
    one(c0, kNoTask); one(c0, kNoTask); one(c0, kNoTask);
    d.close_all();
    // test_two_tasks_on_one_cpu
    fill(c0, cur, 0); fill(c0, oth, 0);
    one(-1, cur); one(-1, oth); one(c0, cur); one(c0, oth); one(c0, kNoTask);
    fill(c1, kNoTask, 0);
    d.close_all();
    // test_two_tasks_on_one_all_cpus
    fill(c0, cur, 0); fill(-1, oth, 0);
    one(-1, cur); one(-1, oth); one(c0, cur); one(c0, oth); one(c0, kNoTask); one(c1, kNoTask);
    d.close_all();
    // test_task_on_all_and_one_cpu
    fill(-1, cur, 2); one(c0, cur); one(-1, cur);
    one(-1, cur); one(c0, cur); one(c0, kNoTask);
    one(c1, kNoTask); one(c1, kNoTask);
    one(-1, cur);
    d.close_all();
    // beyond KUnit: a CPU-bound breakpoint lowers every task's budget on its CPU only
    fill(c0, kNoTask, 2); fill(c0, cur, 0); one(c0, cur); one(-1, cur); fill(c1, cur, 0); one(c1, kNoTask);
    one(c0, kNoTask); one(-1, oth); one(c0, oth); one(c0, oth);
    d.close_all();
  });
}

// --- random: a long mix of every target kind on the real kernel ------------------------------

void random_sequence(Differ& d, std::uint64_t seed, bool cpu_bound, int ops) {
  std::mt19937_64 rng(seed);
  IdleThread t1, t2, t3;
  const std::uint64_t tasks[] = {static_cast<std::uint64_t>(t1.tid()), static_cast<std::uint64_t>(t2.tid()),
                                 static_cast<std::uint64_t>(t3.tid())};
  const Host& h = host();
  const unsigned n = d.model().ncpus();
  for (int op = 0; op < ops; ++op) {
    if (rng() % 100 < 55 || d.live() == 0) {
      Breakpoint bp;
      bp.type = rng() % 4 ? kW : kX;
      const unsigned kind = static_cast<unsigned>(rng() % 100);
      if (cpu_bound && kind < 20) {
        bp.task = kNoTask;
        bp.cpu = h.online[rng() % h.online.size()];
      } else {
        bp.task = tasks[rng() % 3];
        bp.cpu = kind < 60 ? -1 : static_cast<int>(rng() % n);
      }
      d.open(bp);
    } else {
      d.close_at(rng() % d.live());
    }
  }
  d.close_all();  // before the threads exit
}

TEST(AccountantKernel, RandomTaskTargetsMatchModel) {
  const std::uint64_t seed = seed_from_env();
  std::cout << "[ seed     ] HWBP_SEED=" << seed << std::endl;
  RecordProperty("seed", std::to_string(seed));
  run_differential(false, [&](Differ& d) { random_sequence(d, seed, false, 4000); });
}

TEST(AccountantKernel, RandomWithCpuTargetsMatchModel) {
  const std::uint64_t seed = seed_from_env();
  std::cout << "[ seed     ] HWBP_SEED=" << seed << std::endl;
  RecordProperty("seed", std::to_string(seed));
  run_differential(true, [&](Differ& d) { random_sequence(d, seed, true, 4000); });
}

}  // namespace
