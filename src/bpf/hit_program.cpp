#include "bpf/hit_program.hpp"
#include "bpf/hit_record_decoder.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <exception>
#include <mutex>
#include <utility>

#include <fmt/format.h>

#include "bpf/embedded_object.hpp"
#include "hwbp/error.hpp"

namespace hwbp::bpf {
namespace {

// libbpf prints its diagnostics to stderr by default; hwbp keeps the last line for its own
// one-line error instead.
thread_local std::string g_last_libbpf_message;

int quiet_print(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[512];
  std::vsnprintf(line, sizeof line, format, args);
  std::string text = line;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty()) g_last_libbpf_message = text;
  return 0;
}

void install_quiet_print() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(quiet_print); });
}

Error load_error(int err) {
  err = err < 0 ? -err : err;
  // The kernel answers EACCES both for a missing capability and for a program its verifier
  // refuses; as root only the second is possible, and saying "run as root" would mislead.
  if (err == EACCES && ::geteuid() == 0)
    return Error(Errc::unsupported,
                 fmt::format("this kernel's BPF verifier refused hwbp's program{}{}; use --mode "
                             "ptrace (and report the kernel version)",
                             g_last_libbpf_message.empty() ? "" : ": ", g_last_libbpf_message),
                 err);
  if (err == EPERM || err == EACCES)
    return Error(Errc::permission,
                 "loading hwbp's BPF program needs CAP_BPF and CAP_PERFMON (run as root), or "
                 "use --mode ptrace",
                 err);
  return Error(err == EINVAL || err == ENOSYS || err == ENOTSUP ? Errc::unsupported : Errc::system,
               fmt::format("cannot load hwbp's BPF program: {}{}{}; use --mode ptrace",
                           std::strerror(err), g_last_libbpf_message.empty() ? "" : ": ",
                           g_last_libbpf_message),
               err);
}

std::size_t ring_size(std::size_t want) {
  // A BPF ring buffer is a power of two number of pages.
  std::size_t size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  while (size < want) size <<= 1;
  return size;
}

}  // namespace

HitProgram::HitProgram(std::size_t ring_bytes) {
  install_quiet_print();
  auto image = embedded_object();
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "hwbp_watch_hit");
  object_ = bpf_object__open_mem(image.data(), image.size(), &opts);
  if (!object_) throw load_error(errno);
  auto fail = [this](int err) {
    bpf_object__close(object_);
    object_ = nullptr;
    return load_error(err);
  };
  if (bpf_map* ring = bpf_object__find_map_by_name(object_, "hits"))
    bpf_map__set_max_entries(ring, static_cast<__u32>(ring_size(ring_bytes)));
  if (int rc = bpf_object__load(object_); rc != 0) throw fail(rc);
  bpf_program* prog = bpf_object__find_program_by_name(object_, "hwbp_on_hit");
  prog_fd_ = prog ? bpf_program__fd(prog) : -1;
  if (prog_fd_ < 0) throw fail(ENOENT);
  ring_ = ring_buffer__new(map_fd("hits"), on_record, this, nullptr);
  if (!ring_) throw fail(errno);
}

HitProgram::~HitProgram() {
  if (ring_) ring_buffer__free(ring_);
  if (object_) bpf_object__close(object_);
}

int HitProgram::map_fd(const char* name) const {
  bpf_map* map = bpf_object__find_map_by_name(object_, name);
  return map ? bpf_map__fd(map) : -1;
}

void HitProgram::attach(int perf_fd) {
  if (::ioctl(perf_fd, PERF_EVENT_IOC_SET_BPF, prog_fd_) != 0)
    throw Error(errno == EPERM || errno == EACCES ? Errc::permission : Errc::system,
                fmt::format("cannot attach hwbp's BPF program to a breakpoint event "
                            "(PERF_EVENT_IOC_SET_BPF): {}; use --mode ptrace",
                            std::strerror(errno)),
                errno);
}

void HitProgram::set_watch(std::uint32_t index, std::uint64_t addr, std::uint32_t len,
                           hwbp_bpf_filter filter, std::uint32_t stack_bytes, bool count_only) {
  if (index >= HWBP_BPF_MAX_WATCHES || len > HWBP_BPF_MAX_VALUE)
    throw Error(Errc::invalid_request,
                fmt::format("BPF delivery handles at most {} watches of at most {} bytes; use "
                            "--mode ptrace", HWBP_BPF_MAX_WATCHES, HWBP_BPF_MAX_VALUE));
  hwbp_bpf_watch w{};
  w.addr = addr;
  w.len = len;
  w.filter = filter;
  w.stack_bytes = std::min<std::uint32_t>(stack_bytes, HWBP_BPF_MAX_STACK);
  w.count_only = count_only;
  if (bpf_map_update_elem(map_fd("watches"), &index, &w, BPF_ANY) != 0)
    throw Error(Errc::system, fmt::format("cannot update the BPF watch table: {}", std::strerror(errno)), errno);
}

void HitProgram::set_shadow(std::uint32_t index, const std::optional<std::vector<std::uint8_t>>& bytes) {
  hwbp_bpf_shadow s{};
  if (bytes) {
    s.known = 1;
    std::memcpy(s.bytes, bytes->data(), std::min(bytes->size(), sizeof s.bytes));
  }
  if (bpf_map_update_elem(map_fd("shadows"), &index, &s, BPF_ANY) != 0)
    throw Error(Errc::system, fmt::format("cannot update the BPF shadow table: {}", std::strerror(errno)), errno);
}

void HitProgram::write_chunk(const ChunkKey& k, const ChunkWatches& list) {
  hwbp_bpf_chunk_key key{};
  key.addr = std::get<0>(k);
  key.len = std::get<1>(k);
  key.type = std::get<2>(k);
  if (list.empty()) {
    bpf_map_delete_elem(map_fd("chunks"), &key);  // ENOENT is fine
    return;
  }
  hwbp_bpf_chunk c{};
  for (auto [watch, part] : list) {
    if (c.count == HWBP_BPF_WATCHES_PER_CHUNK) break;
    c.watch[c.count] = watch;
    c.part[c.count++] = part;
  }
  if (bpf_map_update_elem(map_fd("chunks"), &key, &c, BPF_ANY) != 0)
    throw Error(Errc::system, fmt::format("cannot update the BPF chunk table: {}", std::strerror(errno)), errno);
}

void HitProgram::add_chunk(std::uint64_t addr, std::uint32_t len, std::uint32_t type,
                           std::uint32_t watch, std::uint32_t part) {
  ChunkKey key{addr, len, type};
  auto& list = chunks_[key];
  auto of_watch = [watch](const auto& e) { return e.first == watch; };
  if (std::find_if(list.begin(), list.end(), of_watch) != list.end()) return;
  if (list.size() >= HWBP_BPF_WATCHES_PER_CHUNK)
    throw Error(Errc::invalid_request,
                fmt::format("more than {} watches share the chunk at {:#x}; use --mode ptrace",
                            HWBP_BPF_WATCHES_PER_CHUNK, addr));
  list.emplace_back(watch, part);
  write_chunk(key, list);
}

void HitProgram::remove_chunk(std::uint64_t addr, std::uint32_t len, std::uint32_t type,
                              std::uint32_t watch) {
  auto it = chunks_.find({addr, len, type});
  if (it == chunks_.end()) return;
  std::erase_if(it->second, [watch](const auto& e) { return e.first == watch; });
  write_chunk(it->first, it->second);
  if (it->second.empty()) chunks_.erase(it);
}

void HitProgram::clear_chunks() {
  for (const auto& [key, list] : std::exchange(chunks_, {})) write_chunk(key, {});
}

int HitProgram::on_record(void* ctx, void* data, std::size_t size) {
  auto* self = static_cast<HitProgram*>(ctx);
  auto record = decode_hit_record({static_cast<const std::uint8_t*>(data), size});
  if (!record || !self->current_) return 0;
  // Exceptions must not unwind through libbpf's C frames: kept, rethrown by drain().
  try {
    (*self->current_)(record->hit, record->stack);
  } catch (...) {
    self->error_ = std::current_exception();
    return -1;  // stops the consume loop
  }
  // A negative return stops libbpf's loop after this record (which counts as consumed).
  return ++self->taken_ >= self->max_ ? -1 : 0;
}

std::size_t HitProgram::drain(const HitFn& fn, std::size_t max) {
  if (max == 0) return 0;
  current_ = &fn;
  taken_ = 0;
  max_ = max;
  ring_buffer__consume(ring_);
  current_ = nullptr;
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  return taken_;
}

HitProgram::Stats HitProgram::stats() const {
  Stats s;
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return s;
  std::vector<std::uint64_t> values(static_cast<std::size_t>(ncpu));
  std::uint64_t* fields[] = {&s.seen, &s.filtered, &s.lost, &s.unmapped, &s.counts_full};
  for (std::uint32_t k = 0; k < HWBP_BPF_STAT_COUNT; ++k) {
    if (bpf_map_lookup_elem(map_fd("stats"), &k, values.data()) != 0) continue;
    for (auto v : values) *fields[k] += v;
  }
  return s;
}

std::vector<HitProgram::Count> HitProgram::take_counts() {
  std::vector<Count> out;
  int fd = map_fd("counts");
  hwbp_bpf_count_key key{}, next{};
  const void* prev = nullptr;  // NULL: the first key
  std::vector<hwbp_bpf_count_key> keys;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    keys.push_back(next);
    key = next;
    prev = &key;
  }
  // Deleting while iterating would restart the walk: collect first. lookup_and_delete keeps a
  // hit counted between the two steps (hash maps support it since Linux 5.14).
  for (auto& k : keys) {
    std::uint64_t n = 0;
    if (bpf_map_lookup_and_delete_elem(fd, &k, &n) != 0) {
      if (bpf_map_lookup_elem(fd, &k, &n) != 0) continue;
      bpf_map_delete_elem(fd, &k);
    }
    out.push_back({k.watch, k.ip, n});
  }
  return out;
}

std::map<std::uint32_t, std::uint64_t> HitProgram::take_raced() {
  // The program only adds to the array: the new hits are the difference to what was taken.
  std::map<std::uint32_t, std::uint64_t> out;
  const int fd = map_fd("raced");
  for (std::uint32_t watch = 0; watch < HWBP_BPF_MAX_WATCHES; ++watch) {
    std::uint64_t n = 0;
    if (bpf_map_lookup_elem(fd, &watch, &n) != 0 || n == 0) continue;
    std::uint64_t& taken = raced_taken_[watch];
    if (n > taken) out[watch] = n - taken;
    taken = n;
  }
  return out;
}

}  // namespace hwbp::bpf
