// A GDB remote-protocol stub for `hwbp vm --gdb HOST:PORT` / `--gdb-stdio`: GDB connects, and
// debugs the guest through hwbp::kvm. One connection, one vCPU (thread 1).
//
// Served: qSupported (PacketSize, qXfer:features:read+, swbreak+, hwbreak+, vContSupported+),
// qXfer:features:read (gdb_registers.hpp: i386 for a 32-bit kernel, x86-64 for a 64-bit one), ?,
// g/G, p/P, m/M, c/s, vCont (c, s; signals are ignored), Z0-Z4/z0-z4, k, D, Ctrl-C, the thread
// queries of a one-thread target. Unknown packets get the empty reply; malformed ones `E16`.
//   Z0/Z1  execute breakpoints in debug registers: int3 never works on this kind of backend
//          (kvm-guest-debug.md section 11), so GDB's plain `break` is served by hardware too and
//          reported as swbreak (Z0) or hwbreak (Z1). A fifth one is refused (`E1c`).
//   Z2     write watches: a debug register where the backend reports data hits and one is free,
//          otherwise the library's write-trap watch (any number, any length). When a breakpoint
//          or read/access watch needs a register a write watch holds, that write watch moves
//          to a write trap.
//   Z3/Z4  read / access watches: debug registers only (`E1c` when full).
// Stop replies: T05 with thread:1 and watch:/rwatch:/awatch:ADDR, swbreak:, hwbreak:; T02 after
// Ctrl-C; W<status> when the guest exits through the debug-exit port.
// Disconnection: `D` or a closed connection detaches the debugger (breakpoints and watches
// removed) and the guest runs on to its end; `k` ends the VM at once.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "hwbp/kvm.hpp"
#include "vmm/gdb_registers.hpp"
#include "vmm/machine.hpp"
#include "vmm/run_loop.hpp"

namespace hwbp::vmm::gdb {

// How a session ended.
struct Outcome {
  enum class Kind : std::uint8_t { exited, killed, detached, failed } kind = Kind::exited;
  int exit_status = 0;  // exited: the guest's debug-exit status
  Stop stop;            // what ended the guest (detached: how the run after detaching ended)
};

class Stub {
 public:
  Stub(Machine& machine, RunLoop& loop, hwbp::kvm::GuestDebugger& debugger, Arch arch, int in_fd, int out_fd);
  Outcome serve();

  // Protocol logic for one packet while the guest is stopped: the reply, or nullopt when the
  // packet resumes the guest (c, s, vCont) — then resume() holds what to do.
  std::optional<std::string> handle(const std::string& packet);

 private:
  struct Resume {
    bool step = false;
  };
  struct Point {
    char type;
    std::uint64_t addr;
    std::uint64_t kind;
    auto operator<=>(const Point&) const = default;
  };
  std::string stop_reply(const Stop& stop);
  std::string insert_point(const std::string& packet, bool insert);
  bool move_write_watch_to_trap();
  std::string read_memory(const std::string& args);
  std::string write_memory(const std::string& args);
  std::string read_features(const std::string& args);
  RegisterFile registers();
  void set_registers(const RegisterFile& file);
  void send(const std::string& payload);
  Stop run(bool step);

  Machine& machine_;
  RunLoop& loop_;
  hwbp::kvm::GuestDebugger& debugger_;
  Arch arch_;
  int in_fd_, out_fd_;
  std::map<Point, hwbp::kvm::WatchId> points_;
  std::optional<Resume> resume_;
  bool killed_ = false, detached_ = false;
  std::string last_reply_;
};

}  // namespace hwbp::vmm::gdb
