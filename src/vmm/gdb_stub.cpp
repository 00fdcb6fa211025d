#include "vmm/gdb_stub.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "hwbp/error.hpp"
#include "kvm/kvm_fd.hpp"
#include "vmm/gdb_packet.hpp"

namespace hwbp::vmm::gdb {
namespace {

constexpr const char* kThread = "thread:01;";
constexpr std::size_t kPacketSize = PacketReader::kMaxPacket;
const std::string kBadPacket = "E16";     // EINVAL
const std::string kNoSlot = "E1c";        // ENOSPC: no debug register left
const std::string kBadAddress = "E0e";    // EFAULT

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// "ADDR,LEN" (and ":rest" after it when `rest` is given).
bool parse_addr_len(std::string_view args, std::uint64_t& addr, std::uint64_t& len, std::string_view* rest = nullptr) {
  const auto comma = args.find(',');
  if (comma == std::string_view::npos) return false;
  auto end = args.size();
  if (rest) {
    end = args.find(':');
    if (end == std::string_view::npos) return false;
    *rest = args.substr(end + 1);
  }
  auto a = parse_number(args.substr(0, comma));
  auto l = parse_number(args.substr(comma + 1, end - comma - 1));
  if (!a || !l) return false;
  addr = *a;
  len = *l;
  return true;
}

// The connection to GDB. While the guest is stopped, the serving thread reads packets itself
// (one thread per round trip: a hand-over between threads costs a wake-up per packet and per
// ack, which in the nested test VM made every packet take tens of milliseconds). While the guest
// runs after a continue, the serving thread is inside KVM_RUN, so a watcher thread polls the
// connection and stops the run when anything arrives: in all-stop mode GDB sends nothing but
// Ctrl-C then, and an end of the connection must stop the run as well (it detaches). The
// watcher only polls; the bytes are read by the serving thread once the run has stopped.
class Connection {
 public:
  Connection(int fd, RunLoop& loop) : fd_(fd), loop_(loop), wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
    if (wake_.get() < 0)
      throw hwbp::Error(hwbp::Errc::system, fmt::format("gdb stub: eventfd: {}", std::strerror(errno)), errno);
    watcher_ = std::thread([this] { watch(); });
  }
  ~Connection() {
    {
      std::lock_guard lock(mutex_);
      quit_ = true;
    }
    changed_.notify_one();
    kick();
    watcher_.join();
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // The next item from GDB; nullopt once the connection is closed.
  std::optional<Item> next() {
    for (;;) {
      if (auto item = reader_.next()) return item;
      if (closed_) return std::nullopt;
      char buf[4096];
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        closed_ = true;
        continue;
      }
      reader_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
    }
  }

  // Around a run after a continue: the watcher stops it when GDB sends anything.
  void set_running(bool on) {
    {
      std::lock_guard lock(mutex_);
      running_ = on;
      if (on) ++run_;
      // A stop the watcher asked for as the run ended by itself is void: the guest is stopped,
      // and the byte that caused it is read as a Ctrl-C of a stopped guest (ignored).
      if (!on) loop_.cancel_stop_request();
    }
    changed_.notify_one();
    if (!on) kick();  // ends the watcher's poll
  }

 private:
  void kick() {
    const std::uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
  }
  // Each run is watched until it ends or the watcher has stopped it; runs are numbered so that
  // a watcher that wakes late never mistakes the next run for the one it stopped.
  void watch() {
    std::unique_lock lock(mutex_);
    std::uint64_t stopped = 0;
    for (;;) {
      changed_.wait(lock, [&] { return quit_ || (running_ && run_ != stopped); });
      if (quit_) return;
      const std::uint64_t run = run_;
      lock.unlock();
      pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_.get(), POLLIN, 0}};
      const int n = ::poll(fds, 2, -1);
      if (fds[1].revents & POLLIN) {
        std::uint64_t count;
        (void)!::read(wake_.get(), &count, sizeof count);
      }
      lock.lock();
      if (n > 0 && fds[0].revents && running_ && run_ == run) {
        loop_.request_stop();
        stopped = run;  // the bytes stay unread until the serving thread has seen the stop
      }
    }
  }

  int fd_;
  RunLoop& loop_;
  PacketReader reader_;  // the serving thread's only
  bool closed_ = false;  // the serving thread's only
  kvm::OwnedFd wake_;    // set_running(false) and the destructor end the watcher's poll
  std::mutex mutex_;
  std::condition_variable changed_;
  bool running_ = false;
  std::uint64_t run_ = 0;  // number of the current or last run
  bool quit_ = false;
  std::thread watcher_;
};

}  // namespace

Stub::Stub(Machine& machine, RunLoop& loop, hwbp::kvm::GuestDebugger& debugger, Arch arch, int in_fd, int out_fd)
    : machine_(machine), loop_(loop), debugger_(debugger), arch_(arch), in_fd_(in_fd), out_fd_(out_fd) {}

void Stub::send(const std::string& payload) {
  last_reply_ = frame(payload);
  const char* p = last_reply_.data();
  std::size_t left = last_reply_.size();
  while (left) {
    const ssize_t n = ::write(out_fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the client is gone: the reader sees EOF
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

RegisterFile Stub::registers() {
  RegisterFile f;
  f.regs = debugger_.registers(0);
  f.sregs = machine_.special_registers(0);
  return f;
}

void Stub::set_registers(const RegisterFile& file) {
  debugger_.set_registers(0, file.regs);
  // Only selectors change through GDB; descriptors stay (see gdb_registers.hpp).
}

std::string Stub::read_features(const std::string& args) {
  // "target.xml:OFF,LEN"
  const auto colon = args.find(':');
  std::uint64_t off = 0, len = 0;
  if (colon == std::string::npos || args.substr(0, colon) != "target.xml" ||
      !parse_addr_len(std::string_view(args).substr(colon + 1), off, len))
    return kBadPacket;
  const std::string& xml = target_xml(arch_);
  if (off >= xml.size()) return "l";
  const std::string chunk = xml.substr(off, std::min<std::uint64_t>(len, kPacketSize - 16));
  return (off + chunk.size() >= xml.size() ? "l" : "m") + chunk;
}

std::string Stub::read_memory(const std::string& args) {
  std::uint64_t addr = 0, len = 0;
  if (!parse_addr_len(args, addr, len)) return kBadPacket;
  len = std::min<std::uint64_t>(len, (kPacketSize - 8) / 2);
  std::vector<std::uint8_t> bytes(len);
  try {
    debugger_.read_guest(0, addr, bytes);
  } catch (const Error&) {
    return kBadAddress;
  }
  return to_hex(bytes);
}

std::string Stub::write_memory(const std::string& args) {
  std::uint64_t addr = 0, len = 0;
  std::string_view data;
  if (!parse_addr_len(args, addr, len, &data)) return kBadPacket;
  auto bytes = from_hex(data);
  if (!bytes || bytes->size() != len) return kBadPacket;
  try {
    debugger_.write_guest(0, addr, *bytes);
  } catch (const Error&) {
    return kBadAddress;
  }
  return "OK";
}

std::string Stub::insert_point(const std::string& packet, bool insert) {
  // "Ztype,addr,kind[;cond...]"
  const std::string body = packet.substr(1, packet.find(';') - 1);
  if (body.size() < 3 || body[1] != ',' || body[0] < '0' || body[0] > '4') return "";
  std::uint64_t addr = 0, kind = 0;
  if (!parse_addr_len(std::string_view(body).substr(2), addr, kind)) return kBadPacket;
  const Point point{body[0], addr, kind};
  if (!insert) {
    auto it = points_.find(point);
    if (it == points_.end()) return "OK";  // GDB removes what it may not have inserted
    try {
      debugger_.remove(it->second);
    } catch (const Error&) {
    }
    points_.erase(it);
    return "OK";
  }
  if (points_.count(point)) return "OK";
  hwbp::kvm::WatchSpec spec;
  spec.addr = addr;
  switch (point.type) {
    case '0':
    case '1':
      spec.len = 1;
      spec.access = Access::exec;
      spec.engine = hwbp::kvm::Engine::hardware;
      break;
    case '2': spec.len = kind; spec.access = Access::write; break;
    case '3': spec.len = kind; spec.access = Access::read; spec.engine = hwbp::kvm::Engine::hardware; break;
    default: spec.len = kind; spec.access = Access::read_write; spec.engine = hwbp::kvm::Engine::hardware; break;
  }
  for (;;) {
    try {
      points_[point] = debugger_.add(spec);
      return "OK";
    } catch (const Error& e) {
      if (e.code() != Errc::no_slots) return kBadPacket;
      // Only debug registers serve breakpoints and read/access watches; a write watch holding
      // one can move to a write trap. GDB inserts by address, so without this a write watch
      // inserted first would take the register a later `rwatch` needs.
      if (!move_write_watch_to_trap()) return kNoSlot;
    }
  }
}

bool Stub::move_write_watch_to_trap() {
  for (const auto& info : debugger_.watches()) {
    if (info.engine != hwbp::kvm::Engine::hardware || info.spec.access != Access::write) continue;
    for (auto& [point, id] : points_) {
      if (id != info.id || point.type != '2') continue;
      hwbp::kvm::WatchSpec spec = info.spec;
      spec.engine = hwbp::kvm::Engine::write_trap;
      const hwbp::kvm::WatchId moved = debugger_.add(spec);  // armed before the old one goes
      debugger_.remove(info.id);
      id = moved;
      return true;
    }
  }
  return false;
}

std::optional<std::string> Stub::handle(const std::string& p) {
  if (p.empty()) return "";
  switch (p[0]) {
    case '?': return std::string("T05") + kThread;
    case 'g': return encode_registers(arch_, registers());
    case 'G': {
      RegisterFile f = registers();
      if (!decode_registers(arch_, std::string_view(p).substr(1), f)) return kBadPacket;
      set_registers(f);
      return "OK";
    }
    case 'p': {
      auto n = parse_number(std::string_view(p).substr(1));
      if (!n) return kBadPacket;
      auto v = encode_register(arch_, registers(), static_cast<unsigned>(*n));
      return v ? *v : kBadPacket;
    }
    case 'P': {
      const auto eq = p.find('=');
      auto n = eq == std::string::npos ? std::nullopt : parse_number(std::string_view(p).substr(1, eq - 1));
      RegisterFile f = registers();
      if (!n || !decode_register(arch_, static_cast<unsigned>(*n), std::string_view(p).substr(eq + 1), f))
        return kBadPacket;
      set_registers(f);
      return "OK";
    }
    case 'm': return read_memory(p.substr(1));
    case 'M': return write_memory(p.substr(1));
    case 'c':
    case 's': {
      if (p.size() > 1) {
        auto addr = parse_number(std::string_view(p).substr(1));
        if (!addr) return kBadPacket;
        RegisterFile f = registers();
        f.regs.rip = *addr;
        set_registers(f);
      }
      resume_ = Resume{p[0] == 's'};
      return std::nullopt;
    }
    case 'Z':
    case 'z': return insert_point(p, p[0] == 'Z');
    case 'H':
    case 'T': return "OK";
    case 'k': killed_ = true; return std::nullopt;
    case 'D': detached_ = true; return "OK";
    default: break;
  }
  if (starts_with(p, "qSupported"))
    return fmt::format("PacketSize={:x};qXfer:features:read+;swbreak+;hwbreak+;vContSupported+", kPacketSize);
  if (starts_with(p, "qXfer:features:read:")) return read_features(p.substr(20));
  if (p == "qAttached") return "1";
  if (p == "qC") return "QC01";
  if (p == "qfThreadInfo") return "m01";
  if (p == "qsThreadInfo") return "l";
  if (p == "vCont?") return "vCont;c;C;s;S";
  if (starts_with(p, "vCont;")) {
    // One thread: any step action steps it, otherwise it continues.
    bool step = false;
    for (std::size_t at = 5; at < p.size(); at = p.find(';', at + 1)) {
      if (at + 1 < p.size() && (p[at + 1] == 's' || p[at + 1] == 'S')) step = true;
      if (p.find(';', at + 1) == std::string::npos) break;
    }
    resume_ = Resume{step};
    return std::nullopt;
  }
  return "";  // not supported
}

std::string Stub::stop_reply(const Stop& stop) {
  using hwbp::kvm::EventKind;
  switch (stop.kind) {
    case Stop::Kind::interrupted: return std::string("T02") + kThread;
    case Stop::Kind::exited: return fmt::format("W{:02x}", stop.exit_status & 0xff);
    case Stop::Kind::events: break;
    default: return "W01";
  }
  // Data hits first, then breakpoints, then a completed step.
  auto owner = [this](hwbp::kvm::WatchId id) -> const Point* {
    for (const auto& [point, watch] : points_)
      if (watch == id) return &point;
    return nullptr;
  };
  for (const auto& e : stop.events) {
    if (e.kind != EventKind::data) continue;
    const Point* point = owner(e.watch);
    if (!point) continue;
    const char* reason = point->type == '2' ? "watch" : point->type == '3' ? "rwatch" : "awatch";
    return fmt::format("T05{}{}:{:x};", kThread, reason, point->addr);
  }
  for (const auto& e : stop.events) {
    if (e.kind != EventKind::breakpoint) continue;
    const Point* point = owner(e.watch);
    return fmt::format("T05{}{}:;", kThread, point && point->type == '0' ? "swbreak" : "hwbreak");
  }
  return std::string("T05") + kThread;
}

Stop Stub::run(bool step) {
  if (step) debugger_.single_step(0, true);
  Stop stop;
  for (;;) {
    stop = loop_.run(0);
    // Events of no GDB point (none today) and mapping changes do not stop GDB's guest.
    if (stop.kind != Stop::Kind::events || step) break;
    bool ours = false;
    for (const auto& e : stop.events)
      for (const auto& [point, watch] : points_)
        if (watch == e.watch) ours = true;
    if (ours) break;
  }
  if (step) debugger_.single_step(0, false);
  return stop;
}

Outcome Stub::serve() {
  Connection connection(in_fd_, loop_);
  Outcome outcome;
  for (;;) {
    auto item = connection.next();
    if (!item) {  // the client went away without detaching
      detached_ = true;
    } else {
      switch (item->kind) {
        case Item::Kind::ack:
        case Item::Kind::interrupt:  // the guest is stopped already
          continue;
        case Item::Kind::nack:
          if (!last_reply_.empty()) (void)::write(out_fd_, last_reply_.data(), last_reply_.size());
          continue;
        case Item::Kind::bad_checksum:
          (void)::write(out_fd_, "-", 1);
          continue;
        case Item::Kind::packet:
          (void)::write(out_fd_, "+", 1);
          break;
      }
      auto reply = handle(item->payload);
      if (reply) send(*reply);
    }
    if (killed_) {
      outcome.kind = Outcome::Kind::killed;
      return outcome;
    }
    if (detached_) {
      debugger_.detach();
      loop_.attach(nullptr);
      outcome.kind = Outcome::Kind::detached;
      do outcome.stop = loop_.run(0);
      while (outcome.stop.kind == Stop::Kind::interrupted);
      outcome.exit_status = outcome.stop.exit_status;
      return outcome;
    }
    if (!resume_) continue;
    const bool step = resume_->step;
    resume_.reset();
    // A single step ends by itself after one instruction: nothing to watch for.
    if (!step) connection.set_running(true);
    Stop stop = run(step);
    if (!step) connection.set_running(false);
    send(stop_reply(stop));
    if (stop.kind == Stop::Kind::exited) {
      outcome.kind = Outcome::Kind::exited;
      outcome.exit_status = stop.exit_status;
      outcome.stop = stop;
      return outcome;
    }
    if (stop.kind != Stop::Kind::events && stop.kind != Stop::Kind::interrupted) {
      outcome.kind = Outcome::Kind::failed;
      outcome.stop = stop;
      return outcome;
    }
  }
}

}  // namespace hwbp::vmm::gdb
