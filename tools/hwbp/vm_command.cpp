// `hwbp vm [options] KERNEL [-- CMDLINE...]`: boot KERNEL (Multiboot v1 ELF as
// `qemu-system-x86_64 -kernel` does, or a 64-bit ELF in long mode) in a minimal VMM on /dev/kvm
// (src/vmm) and report who accesses the watched guest memory — the same --watch specs, filters
// and output formats as `hwbp run`, with symbols, file:line and frames from the kernel's ELF —
// or serve GDB (--gdb HOST:PORT, --gdb-stdio). Exits with the guest's debug-exit status (QEMU's
// rule: (value << 1) | 1); 2 with one line on stderr when the guest cannot run or dies.
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>

#include "command.hpp"
#include "guest_delivery.hpp"
#include "hwbp/error.hpp"
#include "hwbp/kvm.hpp"
#include "kvm/kvm_fd.hpp"
#include "report_options.hpp"
#include "symbols/process_image.hpp"
#include "symbols/symbol_error.hpp"
#include "symbols/symbol_table.hpp"
#include "vmm/gdb_stub.hpp"
#include "vmm/kernel_image.hpp"
#include "vmm/machine.hpp"
#include "vmm/run_loop.hpp"

namespace {

using namespace hwbp;
using namespace hwbp::cli;

struct VmOptions : ReportOptions {
  std::string kernel;
  std::vector<std::string> cmdline;
  unsigned memory_mib = 128;
  std::string engine = "auto";
  std::string gdb;
  bool gdb_stdio = false;
  std::string console;
};

// The guest's serial console: --console FILE, else stdout (stderr when stdout carries GDB's
// protocol). Owned and closed by the command.
struct Console {
  std::FILE* file = stdout;
  explicit Console(const VmOptions& o) {
    if (o.gdb_stdio) file = stderr;
    if (o.console.empty()) return;
    file = std::fopen(o.console.c_str(), "w");
    if (!file) throw Error(Errc::system, fmt::format("--console '{}': {}", o.console, std::strerror(errno)), errno);
  }
  ~Console() {
    if (file != stdout && file != stderr) std::fclose(file);
  }
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;
};

vmm::RunLoop* g_loop = nullptr;
void on_interrupt(int) {
  if (g_loop) g_loop->request_stop();
}

std::string join(const std::vector<std::string>& words) {
  std::string s;
  for (const auto& w : words) s += (s.empty() ? "" : " ") + w;
  return s;
}

kvm::Engine engine_of(const std::string& name) {
  if (name == "hardware") return kvm::Engine::hardware;
  if (name == "write-trap") return kvm::Engine::write_trap;
  return kvm::Engine::automatic;
}

// --gdb HOST:PORT (or PORT): a listening socket on loopback unless HOST says otherwise, one
// client accepted.
kvm::OwnedFd accept_gdb(const std::string& where) {
  std::string host = "127.0.0.1", port = where;
  if (auto colon = where.rfind(':'); colon != std::string::npos) {
    host = colon ? where.substr(0, colon) : host;
    port = where.substr(colon + 1);
  }
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (port.empty() || *end || p <= 0 || p > 65535 || ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1)
    throw Error(Errc::invalid_request,
                fmt::format("--gdb '{}': expected [IPv4-ADDRESS:]PORT, e.g. 127.0.0.1:1234", where));
  addr.sin_port = htons(static_cast<std::uint16_t>(p));
  kvm::OwnedFd server(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int one = 1;
  ::setsockopt(server.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(server.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || ::listen(server.get(), 1) < 0)
    throw Error(Errc::system,
                fmt::format("--gdb {}:{}: {} (choose another port)", host, p, std::strerror(errno)), errno);
  std::fprintf(stderr, "hwbp: waiting for GDB on %s:%ld (target remote %s:%ld)\n", host.c_str(), p, host.c_str(), p);
  const int client = ::accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC);
  if (client < 0) throw Error(Errc::system, fmt::format("--gdb: accept: {}", std::strerror(errno)), errno);
  const int nodelay = 1;
  ::setsockopt(client, IPPROTO_TCP, 1 /* TCP_NODELAY */, &nodelay, sizeof nodelay);
  return kvm::OwnedFd(client);
}

// The guest's end as the command's exit status, with one line on stderr when it did not exit
// through the debug-exit port.
int guest_status(const vmm::Stop& stop) {
  switch (stop.kind) {
    case vmm::Stop::Kind::exited: return stop.exit_status;
    case vmm::Stop::Kind::interrupted: return 130;
    default: return fail(stop.message);
  }
}

int serve_gdb(const VmOptions& o, const vmm::KernelImage& kernel) {
  Console console(o);
  vmm::Machine machine(kernel, {std::uint64_t{o.memory_mib} << 20, join(o.cmdline)});
  vmm::RunLoop loop(machine, console.file);
  kvm::GuestDebugger debugger(machine.handles());
  loop.attach(&debugger);
  kvm::OwnedFd client;
  int in = STDIN_FILENO, out = STDOUT_FILENO;
  if (!o.gdb_stdio) {
    client = accept_gdb(o.gdb);
    in = out = client.get();
  }
  ::signal(SIGPIPE, SIG_IGN);
  vmm::gdb::Stub stub(machine, loop, debugger, kernel.elf64 ? vmm::gdb::Arch::x86_64 : vmm::gdb::Arch::i386, in,
                      out);
  const auto outcome = stub.serve();
  switch (outcome.kind) {
    case vmm::gdb::Outcome::Kind::killed: return 0;
    case vmm::gdb::Outcome::Kind::exited: return outcome.exit_status;
    default: return guest_status(outcome.stop);
  }
}

int run_vm(VmOptions o) {
  if (o.memory_mib < 2 || o.memory_mib > 3072)
    return fail(fmt::format("-m {}: guest RAM is 2 to 3072 MiB (below the 32-bit PCI hole)", o.memory_mib));
  if ((!o.gdb.empty() || o.gdb_stdio) && (!o.specs.empty() || !o.breaks.empty()))
    return fail("--gdb / --gdb-stdio and --watch / --break exclude each other: set watchpoints from GDB");
  const vmm::KernelImage kernel = vmm::read_kernel(o.kernel);
  if (!o.gdb.empty() || o.gdb_stdio) return serve_gdb(o, kernel);

  // Symbols of the kernel ELF; code is read from guest RAM once the debugger exists.
  kvm::GuestDebugger* debugger_ptr = nullptr;
  auto image = symbols::ProcessImage::open_file(o.kernel, [&debugger_ptr](std::uint64_t addr, std::size_t len) {
    std::vector<std::uint8_t> bytes(len);
    try {
      if (!debugger_ptr) throw Error(Errc::invalid_state, "the guest is not running");
      debugger_ptr->read_guest(0, addr, bytes);
    } catch (const Error& e) {
      throw symbols::SymbolError(symbols::SymbolErrc::unreadable, e.what());
    }
    return bytes;
  });
  symbols::SymbolTable table(image);
  Symbolizer symbolizer;
  symbolizer.set_image(image);
  ReportPipeline report;
  build_report_pipeline(o, {}, symbolizer, core::host_arch(), report);
  report.acceptor->set_thread_namer([](pid_t vcpu) { return fmt::format("vcpu{}", vcpu); });
  report.reporter->set_delivery("kvm", 0);
  report.watches->resolve(table);
  for (const Watch& w : report.watches->all())
    if (!w.resolved())
      return fail(fmt::format("watch '{}': {}", w.spec.text,
                              w.unresolved_reason.empty() ? "not found in the kernel" : w.unresolved_reason));

  Console console(o);
  vmm::Machine machine(kernel, {std::uint64_t{o.memory_mib} << 20, join(o.cmdline)});
  vmm::RunLoop loop(machine, console.file);
  std::optional<kvm::GuestDebugger> debugger;
  std::optional<GuestDelivery> delivery;
  if (!report.watches->all().empty()) {
    debugger.emplace(machine.handles());
    debugger_ptr = &*debugger;
    delivery.emplace(*debugger, *report.watches, *report.acceptor, kernel.elf64 ? 8 : 4, engine_of(o.engine),
                     counts_only(o));
    delivery->arm();
    loop.attach(&*debugger);
    for (const Watch& w : report.watches->all())
      std::fprintf(stderr, "hwbp: watching %s: %zu byte%s at %#llx (%s) in the guest, by %s\n", w.label.c_str(), w.len,
                   w.len == 1 ? "" : "s", static_cast<unsigned long long>(w.addr), to_string(w.spec.access),
                   w.served_by.c_str());
  }
  g_loop = &loop;
  ::signal(SIGINT, on_interrupt);
  ::signal(SIGTERM, on_interrupt);
  vmm::Stop stop;
  for (;;) {
    stop = loop.run(0);
    if (stop.kind != vmm::Stop::Kind::events) break;
    if (delivery) delivery->deliver(stop.events);
    if (delivery && report.acceptor->done()) {  // --max-hits: the guest runs on unwatched
      delivery->disarm();
      loop.attach(nullptr);
      debugger->detach();
    }
  }
  g_loop = nullptr;
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  if (delivery) delivery->flush_counts();
  std::fflush(stdout);
  if (!report.watches->all().empty()) report.reporter->finish(report.watches->all(), report.acceptor->total());
  return guest_status(stop);
}

RegisterCommand reg([](CLI::App& app) {
  auto* sub = app.add_subcommand(
      "vm", "boot KERNEL (Multiboot v1 or 64-bit ELF) on /dev/kvm and report who accesses the watched guest memory, "
            "or debug it from GDB");
  auto o = std::make_shared<VmOptions>();
  add_report_options(*sub, *o, false);
  sub->add_option("-m,--memory", o->memory_mib, "guest RAM in MiB (default 128)");
  sub->add_option("--engine", o->engine,
                  "how write/modify watches are armed: auto (debug registers where the backend reports data hits "
                  "and slots are free, else write traps), hardware, write-trap")
      ->check(CLI::IsMember({"auto", "hardware", "write-trap"}));
  sub->add_option("--gdb", o->gdb, "serve GDB's remote protocol on [ADDRESS:]PORT (loopback by default)");
  sub->add_flag("--gdb-stdio", o->gdb_stdio,
                "serve GDB's remote protocol on stdin/stdout (target remote | hwbp vm --gdb-stdio KERNEL)");
  sub->add_option("--console", o->console,
                  "write the guest's serial console (COM1) to FILE (default: stdout; stderr with --gdb-stdio)");
  sub->add_option("kernel", o->kernel, "the kernel ELF")->required();
  sub->add_option("cmdline", o->cmdline, "the kernel's command line (after --)");
  return [o] { return run_vm(*o); };
});

}  // namespace
