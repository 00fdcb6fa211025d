// `hwbp doctor`: what this machine allows, one line per check, each failure with its fix.
// Every verdict that matters is established by doing the thing (opening events, arming a real
// watchpoint, loading a BPF program), not inferred from versions: containers, VMs and distro
// patches make the version string a poor predictor.
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bpf/hit_program.hpp"
#include "command.hpp"
#include "core/arch.hpp"
#include "core/engine_choice.hpp"
#include "kvm_backends.hpp"
#include "perf/capabilities.hpp"
#include "perf/errors.hpp"
#include "perf/hit_delivery.hpp"
#include "perf/event.hpp"
#include "perf/uprobe.hpp"
#include "uprobe_arming.hpp"

namespace {

using Json = nlohmann::ordered_json;

enum class Status { ok, warn, fail };

struct Check {
  Status status = Status::ok;
  std::string name;
  std::string detail;
  std::string fix;        // empty when there is nothing to do
  bool essential = false;  // a failure here means hwbp cannot work at all (exit 1)
};

const char* to_string(Status s) {
  return s == Status::ok ? "ok" : s == Status::warn ? "warn" : "fail";
}

// First whitespace-separated token of a /proc or /sys file, "" when unreadable.
std::string read_word(const char* path) {
  std::ifstream in(path);
  std::string w;
  in >> w;
  return w;
}

// Effective capability bits (/proc/self/status CapEff), 0 when unreadable.
std::uint64_t effective_caps() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("CapEff:", 0) == 0) return std::strtoull(line.c_str() + 7, nullptr, 16);
  return 0;
}

constexpr int kCapSysPtrace = 19, kCapSysAdmin = 21, kCapPerfmon = 38;
bool has_cap(int cap) { return (effective_caps() >> cap) & 1u; }
// CAP_SYS_ADMIN implies CAP_PERFMON on kernels older than 5.8, which lack the latter.
bool perf_privileged() { return has_cap(kCapPerfmon) || has_cap(kCapSysAdmin); }

Check check_kernel() {
  utsname u{};
  ::uname(&u);
  unsigned major = 0, minor = 0;
  std::sscanf(u.release, "%u.%u", &major, &minor);
  if (major > 5 || (major == 5 && minor >= 13))
    return {Status::ok, "kernel", fmt::format("{} (>= 5.13: sigtrap, remove_on_exec, "
                                              "inherit_thread)", u.release), ""};
  return {Status::warn, "kernel",
          fmt::format("{} is older than 5.13: no synchronous SIGTRAP delivery, new threads are not "
                      "covered automatically", u.release),
          "upgrade to Linux 5.13 or later (6.1+ for fast slot accounting with many threads)"};
}

std::string paranoid_meaning(int p) {
  switch (p) {
    case -1: return "no restrictions";
    case 0: return "user and kernel events, CPU-wide events allowed for everyone";
    case 1: return "user and kernel events on your own processes; CPU-wide watches need CAP_PERFMON";
    case 2: return "user-space events on your own processes (all hwbp needs); CPU-wide watches "
                   "need CAP_PERFMON";
    default: return "perf events disabled for unprivileged users (distribution lockdown patch)";
  }
}

Check check_paranoid() {
  const int p = hwbp::perf::read_paranoid();
  if (p == -100)
    return {Status::warn, "perf_event_paranoid", "unreadable (/proc/sys/kernel/perf_event_paranoid)",
            "mount /proc; without it the permission checks below are the only evidence"};
  const std::string detail = fmt::format("{}: {}", p, paranoid_meaning(p));
  if (p <= 0) return {Status::ok, "perf_event_paranoid", detail, ""};
  if (p <= 2)
    return {Status::ok, "perf_event_paranoid",
            detail + (perf_privileged() ? " (this process has it)" : ""), ""};
  if (perf_privileged())
    return {Status::ok, "perf_event_paranoid", detail + ", but this process has CAP_PERFMON", ""};
  return {Status::fail, "perf_event_paranoid", detail,
          "sudo sysctl kernel.perf_event_paranoid=2, or sudo setcap cap_perfmon+ep $(command -v hwbp)"};
}

Check check_privileges() {
  std::vector<std::string> caps;
  if (has_cap(kCapPerfmon)) caps.push_back("CAP_PERFMON");
  if (has_cap(kCapSysAdmin)) caps.push_back("CAP_SYS_ADMIN");
  if (has_cap(kCapSysPtrace)) caps.push_back("CAP_SYS_PTRACE");
  const std::string who = ::geteuid() == 0 ? "root" : fmt::format("uid {}", ::geteuid());
  if (caps.empty())
    return {Status::ok, "privileges", who + ", no perf/ptrace capabilities: your own processes only", ""};
  std::string list;
  for (const auto& c : caps) list += (list.empty() ? "" : ", ") + c;
  return {Status::ok, "privileges", who + " with " + list, ""};
}

// Opens cannot succeed: explain with the same messages the library uses for a failed watch.
Check slots_unavailable(const hwbp::perf::Capabilities& c) {
  hwbp::perf::OpenContext ctx;
  const std::string why = hwbp::perf::error_from_errno(c.open_errno, ctx).what();
  return {Status::fail, "breakpoint slots",
          fmt::format("perf_event_open(PERF_TYPE_BREAKPOINT) refused ({})", std::strerror(c.open_errno)),
          why, true};
}

Check check_slots(const hwbp::perf::Capabilities& c) {
  if (!c.breakpoints) return slots_unavailable(c);
  const hwbp::core::ArchInfo arch = hwbp::core::host_arch();
  if (c.slots == 0)
    return {Status::fail, "breakpoint slots", "0 per thread: every debug-register slot is taken",
            "remove CPU-wide hardware breakpoints (perf record -a -e mem:...) or detach debuggers",
            true};
  // x86 always has 4; fewer means CPU-bound breakpoints take slots from every task. aarch64
  // counts vary by CPU, so there is nothing to compare against.
  if (arch.kind == hwbp::ArchKind::x86_64 && c.slots < arch.data_slots)
    return {Status::warn, "breakpoint slots",
            fmt::format("{} of {} per thread: CPU-wide breakpoints hold the rest", c.slots,
                        arch.data_slots),
            "remove CPU-wide hardware breakpoints (perf record -a -e mem:..., kgdb)", true};
  return {Status::ok, "breakpoint slots", fmt::format("{} per thread", c.slots), "", true};
}

// One line per 5.13+/4.17+ perf feature, with what hwbp loses without it.
Check feature(const char* name, bool have, bool known, const char* lost, const char* since) {
  if (have) return {Status::ok, name, "supported", ""};
  if (!known) return {Status::warn, name, "unknown: breakpoint events cannot be opened", ""};
  return {Status::warn, name, fmt::format("not supported: {}", lost),
          fmt::format("upgrade to Linux {} or later", since)};
}

std::vector<Check> check_features(const hwbp::perf::Capabilities& c) {
  return {
      feature("sigtrap", c.sigtrap, c.breakpoints,
              "no synchronous SIGTRAP to the writing thread (in-process watches cannot report "
              "who wrote)", "5.13"),
      feature("remove_on_exec", c.remove_on_exec, c.breakpoints,
              "watches would survive exec into an unrelated program (and sigtrap needs it)", "5.13"),
      feature("inherit_thread", c.inherit_thread, c.breakpoints,
              "threads created later are not covered automatically", "5.13"),
      feature("modify ioctl", c.modify, c.breakpoints,
              "moving a watch closes and reopens its events (slower, briefly unwatched)", "4.17"),
  };
}

// Yama restricts PTRACE_ATTACH only; perf events on another process need ptrace *read* access,
// which Yama does not limit, so only `hwbp attach`'s ptrace step is affected.
Check check_ptrace() {
  const std::string s = read_word("/proc/sys/kernel/yama/ptrace_scope");
  const bool cap = has_cap(kCapSysPtrace);
  if (s.empty())
    return {Status::ok, "ptrace", "no Yama: classic rules, `hwbp attach` works on your own processes", ""};
  if (s == "0")
    return {Status::ok, "ptrace", "yama ptrace_scope 0 (classic): `hwbp attach` works on your own processes", ""};
  if ((s == "1" || s == "2") && cap)
    return {Status::ok, "ptrace", "yama ptrace_scope " + s + ", but CAP_SYS_PTRACE lets `hwbp attach` attach to any process", ""};
  if (s == "1")
    return {Status::warn, "ptrace", "yama ptrace_scope 1 (restricted): `hwbp attach` works only on hwbp's own descendants, not on a running process",
            "sudo sysctl kernel.yama.ptrace_scope=0, or run hwbp as root / with CAP_SYS_PTRACE"};
  if (s == "2")
    return {Status::warn, "ptrace", "yama ptrace_scope 2 (admin-only): `hwbp attach` needs CAP_SYS_PTRACE",
            "run hwbp as root or grant CAP_SYS_PTRACE"};
  return {Status::warn, "ptrace", "yama ptrace_scope " + s + " (no attach): ptrace is disabled, `hwbp attach` cannot work",
          "boot with kernel.yama.ptrace_scope lower (it cannot be lowered until reboot)"};
}

// The decisive test (the shared probe, src/perf/hit_delivery): some hypervisors accept the event
// (the kernel programs DR7) but never deliver #DB to the guest, so only a real hit proves that
// watches work here.
Check check_fires() {
  using State = hwbp::perf::HitDelivery::State;
  const hwbp::perf::HitDelivery d = hwbp::perf::probe_hit_delivery();
  const char* name = "debug registers fire";
  switch (d.state) {
    case State::delivered:
      return {Status::ok, name, d.detail, "", true};
    case State::unknown:
      return {Status::fail, name, d.detail, hwbp::perf::error_from_errno(d.open_errno, {}).what(), true};
    case State::silent:
      // Not essential: hwbp run/attach watch with the page engine instead (check below).
      return {Status::fail, name,
              d.detail + ": the hypervisor does not deliver debug exceptions to this VM",
              "run on bare metal or a hypervisor that passes #DB through (KVM does; some nested or "
              "cloud VMs do not); hwbp run/attach use the page engine meanwhile", false};
    case State::partial:
      break;
  }
  return {Status::warn, name, d.detail,
          "unexpected count: another tool may be multiplexing debug registers", true};
}

// Which engine serves watches here (core::choose_engine with this machine's facts), and why.
Check check_engine() {
  const bool fires = hwbp::perf::hits_delivered();
  hwbp::core::EngineFacts facts;
  facts.hits_delivered = fires;
  facts.uprobes = hwbp::cli::UprobeArming::available();
  const auto choice = hwbp::core::choose_engine(hwbp::core::EngineRequest::automatic,
                                                {hwbp::Access::modify, true, false}, facts);
  const std::string serves = choice.mechanism ? hwbp::core::to_string(*choice.mechanism) : "nothing";
  std::string detail = fmt::format(
      "hwbp run/attach --engine auto: a write watch that fits the free slots is served by {} ({}); "
      "longer or more watches, and --engine page, by page protection (w/modify of any length and "
      "number, exact; no r/rw)", serves, hwbp::core::to_string(choice.reason));
  return {Status::ok, "engine", detail, ""};
}

// Execute breakpoints beyond the debug registers, tried for real: a counting uprobe on a
// function of hwbp itself, called three times.
__attribute__((noinline)) void uprobe_probe_target(volatile int* n) { *n = *n + 1; }

Check check_uprobes() {
  const char* name = "execute breakpoints";
  const std::string none = "x watches beyond the debug registers (or where they are silent) are refused";
  if (!hwbp::cli::UprobeArming::available())
    return {Status::warn, name, "uprobe events unavailable (no uprobe PMU, or no CAP_PERFMON): " + none,
            "run hwbp as root or grant CAP_PERFMON"};
  const auto addr = reinterpret_cast<std::uintptr_t>(&uprobe_probe_target);
  auto where = hwbp::perf::file_location(0, addr);
  if (!where) return {Status::warn, name, "cannot locate hwbp's own code for a test uprobe", ""};
  hwbp::perf::UprobeAttr a;
  a.where = *where;
  a.addr = addr;
  a.sample_period = 0;
  hwbp::perf::Event ev;
  if (const int rc = hwbp::perf::try_open_uprobe(a, 0, -1, ev); rc != 0)
    return {Status::warn, name, fmt::format("a test uprobe was refused ({}): {}", std::strerror(-rc), none),
            "run hwbp as root or grant CAP_PERFMON"};
  ev.enable();
  volatile int n = 0;
  for (int i = 0; i < 3; ++i) uprobe_probe_target(&n);
  ev.disable();
  const auto counted = ev.count();
  if (counted != 3)
    return {Status::warn, name, fmt::format("a test uprobe counted {} of 3 calls: {}", counted, none),
            "check the kernel's uprobe support (CONFIG_UPROBE_EVENTS)"};
  return {Status::ok, name, "uprobe: a test uprobe counted 3 of 3 calls; x watches beyond the "
                            "debug registers (or where they are silent) use uprobes", ""};
}

// The fast mode end to end: hwbp's own BPF program loaded and attached to a real write
// watchpoint, which must report each write with its value, also in a thread created after
// arming (an inherited copy of the event).
Check check_bpf() {
  const char* name = "bpf mode";
  std::unique_ptr<hwbp::bpf::HitProgram> program;
  try {
    program = std::make_unique<hwbp::bpf::HitProgram>(std::size_t{1} << 16);
  } catch (const std::exception& e) {
    return {Status::warn, name, std::string("unavailable: ") + e.what(),
            "hwbp run/attach then use --mode ptrace (no privilege; each hit stops the writer, "
            "about 10x slower); run as root or grant CAP_BPF + CAP_PERFMON for the fast mode"};
  }
  alignas(8) volatile std::uint64_t target = 0;
  hwbp::perf::BreakpointAttr a;
  a.addr = reinterpret_cast<std::uintptr_t>(&target);
  a.len = 8;
  a.type = hwbp::core::HwType::write;
  a.inherit = a.inherit_thread = true;
  hwbp::perf::Event ev;
  if (const int rc = hwbp::perf::Event::try_open(a, 0, -1, ev); rc != 0)
    return {Status::warn, name, fmt::format("could not arm a test watchpoint ({})", std::strerror(-rc)), ""};
  std::uint64_t sum = 0;
  int n = 0;
  try {
    program->attach(ev.fd());
    program->set_watch(0, a.addr, 8, HWBP_BPF_EVERY, 0);
    program->set_shadow(0, std::vector<std::uint8_t>(8, 0));
    program->add_chunk(a.addr, 8, static_cast<std::uint32_t>(a.type), 0);
    ev.enable();
    for (int i = 1; i <= 3; ++i) target = static_cast<std::uint64_t>(i);
    std::thread([&] { target = 4; }).join();
    ev.disable();
    program->drain([&](const hwbp_bpf_hit& h, std::span<const std::uint8_t>) {
      std::uint64_t v;
      std::memcpy(&v, h.new_bytes, sizeof v);
      sum += v;
      ++n;
    });
  } catch (const std::exception& e) {
    return {Status::warn, name, std::string("unavailable: ") + e.what(), "use --mode ptrace"};
  }
  if (n != 4 || sum != 10)
    return {Status::warn, name, fmt::format("hwbp's BPF program reported {} of 4 writes", n),
            "use --mode ptrace"};
  return {Status::ok, name, "hwbp's BPF program reported 4 of 4 writes with their values, one "
                            "in a thread created after arming: run/attach deliver hits in the "
                            "kernel (the program never stops)", ""};
}

// Where KVM tests can run: the machine's own /dev/kvm and the project's test VM (make test-vm).
Check check_kvm() {
  const hwbp::cli::KvmBackends b = hwbp::cli::probe_kvm_backends();
  const std::string detail = b.native + "; " + b.test_vm + ": KVM tests run " +
                             (b.native_usable && b.test_vm_ready ? "natively and in the test VM"
                              : b.native_usable                  ? "natively"
                              : b.test_vm_ready                  ? "in the test VM"
                                                                 : "nowhere");
  const bool any = b.native_usable || b.test_vm_ready;
  return {any && b.fix.empty() ? Status::ok : Status::warn, "kvm", detail, b.fix};
}

std::vector<Check> run_checks() {
  const hwbp::perf::Capabilities& caps = hwbp::perf::capabilities();
  std::vector<Check> checks{check_kernel(), check_paranoid(), check_privileges(), check_slots(caps)};
  for (auto& f : check_features(caps)) checks.push_back(std::move(f));
  for (auto&& c : {check_ptrace(), check_fires(), check_engine(), check_uprobes(), check_bpf(), check_kvm()})
    checks.push_back(c);
  return checks;
}

bool hwbp_works(const std::vector<Check>& checks) {
  for (const auto& c : checks)
    if (c.essential && c.status == Status::fail) return false;
  return true;
}

void print_human(const std::vector<Check>& checks) {
  std::size_t width = 0;
  for (const auto& c : checks) width = std::max(width, c.name.size());
  for (const auto& c : checks)
    fmt::print("{:<4}  {:<{}}  {}{}\n", to_string(c.status), c.name, width, c.detail,
               c.fix.empty() ? "" : " (fix: " + c.fix + ")");
}

void print_json(const std::vector<Check>& checks) {
  Json list = Json::array();
  for (const auto& c : checks)
    list.push_back({{"status", to_string(c.status)}, {"name", c.name}, {"detail", c.detail},
                    {"fix", c.fix}, {"essential", c.essential}});
  fmt::print("{}\n", Json{{"ok", hwbp_works(checks)}, {"checks", list}}.dump());
}

hwbp::cli::RegisterCommand reg([](CLI::App& app) {
  auto json = std::make_shared<bool>(false);
  auto* sub = app.add_subcommand("doctor", "check what this machine allows (perf, slots, ptrace, "
                                           "VM debug exceptions) and how to fix what is missing");
  sub->add_flag("--json", *json, "print one JSON object");
  return [json] {
    const std::vector<Check> checks = run_checks();
    if (*json) print_json(checks);
    else print_human(checks);
    return hwbp_works(checks) ? 0 : 1;
  };
});

}  // namespace
