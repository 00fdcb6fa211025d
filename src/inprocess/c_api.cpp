// C API over the C++ one: exceptions become status codes plus a per-thread message.
#include "hwbp/hwbp.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "hwbp/hwbp.hpp"

struct hwbp_watch {
  hwbp::Watch watch;
  hwbp_callback callback;
  void* user;
  hwbp_end_callback on_end;
};

namespace {

// The C enums are the C++ ones, value for value.
static_assert(HWBP_EXEC == static_cast<int>(hwbp::Access::exec) &&
              HWBP_WRITE == static_cast<int>(hwbp::Access::write) &&
              HWBP_READ_WRITE == static_cast<int>(hwbp::Access::read_write) &&
              HWBP_READ == static_cast<int>(hwbp::Access::read) &&
              HWBP_MODIFY == static_cast<int>(hwbp::Access::modify));
static_assert(HWBP_ENGINE_AUTO == static_cast<int>(hwbp::Engine::automatic) &&
              HWBP_ENGINE_HARDWARE == static_cast<int>(hwbp::Engine::hardware) &&
              HWBP_ENGINE_PAGE == static_cast<int>(hwbp::Engine::page));
static_assert(HWBP_MECHANISM_DEBUG_REGISTERS == static_cast<int>(hwbp::Mechanism::debug_registers) &&
              HWBP_MECHANISM_PAGE_PROTECTION == static_cast<int>(hwbp::Mechanism::page_protection) &&
              HWBP_MECHANISM_UPROBE == static_cast<int>(hwbp::Mechanism::uprobe));
// The versions of the options struct: each adds fields at the end.
static_assert(HWBP_OPTIONS_SIZE_VER0 < HWBP_OPTIONS_SIZE_VER1 && HWBP_OPTIONS_SIZE_VER1 < HWBP_OPTIONS_SIZE_VER2);

thread_local std::string g_last_error;

int status_of(hwbp::Errc code) {
  switch (code) {
    case hwbp::Errc::invalid_request: return HWBP_E_INVALID_REQUEST;
    case hwbp::Errc::no_slots: return HWBP_E_NO_SLOTS;
    case hwbp::Errc::permission: return HWBP_E_PERMISSION;
    case hwbp::Errc::no_such_thread: return HWBP_E_NO_SUCH_THREAD;
    case hwbp::Errc::unsupported: return HWBP_E_UNSUPPORTED;
    case hwbp::Errc::invalid_state: return HWBP_E_INVALID_STATE;
    default: return HWBP_E_SYSTEM;
  }
}

template <class F>
int guarded(F&& f) {
  try {
    f();
    g_last_error.clear();
    return HWBP_OK;
  } catch (const hwbp::Error& e) {
    g_last_error = e.what();
    return status_of(e.code());
  } catch (const std::bad_alloc&) {
    g_last_error = "out of memory";
    return HWBP_E_SYSTEM;
  } catch (const std::exception& e) {
    g_last_error = e.what();
    return HWBP_E_SYSTEM;
  }
}

int invalid_request(std::string message) {
  g_last_error = std::move(message);
  return HWBP_E_INVALID_REQUEST;
}

// The caller's options as this library knows them: the first `size` bytes, the rest zero.
// Returns 0, or the status for a size this library cannot honour.
int read_options(const hwbp_options* in, hwbp_options& out) {
  std::size_t size = in->size == 0 ? HWBP_OPTIONS_SIZE_VER0 : in->size;
  if (size < HWBP_OPTIONS_SIZE_VER0)
    return invalid_request("hwbp_options.size " + std::to_string(in->size) +
                           " is smaller than any version of the struct; start from HWBP_OPTIONS_INIT");
  // A newer caller's fields this library does not know must be unused (zero).
  const auto* bytes = reinterpret_cast<const unsigned char*>(in);
  for (std::size_t i = sizeof(hwbp_options); i < size; ++i)
    if (bytes[i] != 0)
      return invalid_request("hwbp_options has fields (size " + std::to_string(size) +
                             ") that this hwbp library (size " + std::to_string(sizeof(hwbp_options)) +
                             ") does not know, and they are set; update libhwbp or leave them 0");
  std::memset(&out, 0, sizeof out);
  std::memcpy(&out, in, std::min(size, sizeof out));
  out.size = sizeof out;
  return HWBP_OK;
}

// Read as a plain int: a C caller can store any value in an enum field.
template <class Enum>
int enum_value(const Enum& field) {
  int v = 0;
  std::memcpy(&v, &field, sizeof v);
  return v;
}

hwbp::Target target_of(const hwbp_options& o) {
  switch (o.target) {
    case HWBP_TARGET_THREAD:
      return o.tid == 0 ? hwbp::Target::this_thread() : hwbp::Target::thread(o.tid);
    case HWBP_TARGET_ALL_CPUS: return hwbp::Target::all_cpus();
    default: return hwbp::Target::process();
  }
}

int invalid_handle() {
  g_last_error = "null hwbp_watch handle; pass the handle hwbp_watch_create returned";
  return HWBP_E_INVALID_STATE;
}

}  // namespace

extern "C" {

int hwbp_watch_create(const hwbp_options* options, hwbp_watch** out) {
  if (options == nullptr || out == nullptr)
    return invalid_request("hwbp_watch_create needs options and an output pointer");
  *out = nullptr;
  hwbp_options o;
  if (int rc = read_options(options, o); rc != HWBP_OK) return rc;
  const int access = enum_value(o.access);
  if (access < HWBP_EXEC || access > HWBP_MODIFY)
    return invalid_request("unknown access kind " + std::to_string(access) +
                           "; use HWBP_EXEC, HWBP_WRITE, HWBP_READ_WRITE, HWBP_READ or HWBP_MODIFY");
  const int target = enum_value(o.target);
  if (target < HWBP_TARGET_PROCESS || target > HWBP_TARGET_ALL_CPUS)
    return invalid_request("unknown target kind " + std::to_string(target) +
                           "; use HWBP_TARGET_PROCESS, HWBP_TARGET_THREAD or HWBP_TARGET_ALL_CPUS");
  const int engine = enum_value(o.engine);
  if (engine < HWBP_ENGINE_AUTO || engine > HWBP_ENGINE_PAGE)
    return invalid_request("unknown engine " + std::to_string(engine) +
                           "; use HWBP_ENGINE_AUTO, HWBP_ENGINE_HARDWARE or HWBP_ENGINE_PAGE");
  return guarded([&] {
    auto* handle = new hwbp_watch{hwbp::Watch(), o.callback, o.user, o.on_end};
    hwbp::WatchOptions opts{.addr = o.addr,
                            .len = o.len,
                            .access = static_cast<hwbp::Access>(access),
                            .target = target_of(o),
                            .callback = {},
                            .enabled = o.start_disabled == 0,
                            .flexible = o.flexible != 0,
                            .engine = static_cast<hwbp::Engine>(engine),
                            .on_end = {}};
    if (o.callback != nullptr) {
      opts.callback = [handle](const hwbp::Hit& h) {
        hwbp_hit c{h.watch_id, h.tid, h.addr, h.len, h.ip, static_cast<hwbp_access>(h.access),
                   h.has_values, h.old_known, h.old_value, h.new_value, h.async, h.context,
                   static_cast<hwbp_mechanism>(h.mechanism), h.pc, h.old_bytes, h.new_bytes, h.syscall,
                   h.old_exact, h.new_exact};
        handle->callback(&c, handle->user);
      };
    }
    if (o.on_end != nullptr) {
      opts.on_end = [handle](const hwbp::WatchEnd& e) {
        hwbp_end c{e.watch_id, e.tid, e.pc, e.syscall};
        handle->on_end(&c, handle->user);
      };
    }
    try {
      handle->watch = hwbp::watch(opts);
    } catch (...) {
      delete handle;
      throw;
    }
    *out = handle;
  });
}

void hwbp_watch_destroy(hwbp_watch* watch) { delete watch; }

int hwbp_watch_enable(hwbp_watch* w) {
  return w == nullptr ? invalid_handle() : guarded([&] { w->watch.enable(); });
}
int hwbp_watch_disable(hwbp_watch* w) {
  return w == nullptr ? invalid_handle() : guarded([&] { w->watch.disable(); });
}
int hwbp_watch_enabled(const hwbp_watch* w, int* enabled) {
  if (w == nullptr || enabled == nullptr) return invalid_handle();
  return guarded([&] { *enabled = w->watch.enabled() ? 1 : 0; });
}
int hwbp_watch_retarget(hwbp_watch* w, uintptr_t addr, size_t len) {
  return w == nullptr ? invalid_handle() : guarded([&] { w->watch.retarget(addr, len); });
}
int hwbp_watch_hits(const hwbp_watch* w, uint64_t* hits) {
  if (w == nullptr || hits == nullptr) return invalid_handle();
  return guarded([&] { *hits = w->watch.hits(); });
}
int hwbp_watch_coverage(const hwbp_watch* w, double* coverage) {
  if (w == nullptr || coverage == nullptr) return invalid_handle();
  return guarded([&] { *coverage = w->watch.coverage(); });
}
uint64_t hwbp_watch_id(const hwbp_watch* w) { return w == nullptr ? 0 : w->watch.id(); }
int hwbp_watch_mechanism(const hwbp_watch* w, hwbp_mechanism* mechanism, const char** reason) {
  if (w == nullptr || mechanism == nullptr) return invalid_handle();
  return guarded([&] {
    *mechanism = static_cast<hwbp_mechanism>(w->watch.mechanism());
    if (reason != nullptr) *reason = w->watch.mechanism_reason();
  });
}
const char* hwbp_mechanism_name(hwbp_mechanism mechanism) {
  const int m = enum_value(mechanism);
  if (m < HWBP_MECHANISM_DEBUG_REGISTERS || m > HWBP_MECHANISM_UPROBE) return nullptr;
  return hwbp::to_string(static_cast<hwbp::Mechanism>(m));
}
int hwbp_active(void) { return hwbp::active() ? 1 : 0; }
unsigned hwbp_slots_per_thread(void) { return hwbp::slots_per_thread(); }
int hwbp_slots_needed(uintptr_t addr, size_t len, hwbp_access access, size_t* slots) {
  if (slots == nullptr) return invalid_request("hwbp_slots_needed needs an output pointer");
  const int a = enum_value(access);
  if (a < HWBP_EXEC || a > HWBP_MODIFY) return invalid_request("unknown access kind " + std::to_string(a));
  return guarded([&] { *slots = hwbp::slots_needed(addr, len, static_cast<hwbp::Access>(a)); });
}
int hwbp_set_rotation_interval(uint64_t microseconds) {
  return guarded([&] {
    hwbp::set_rotation_interval(std::chrono::microseconds(
        static_cast<std::chrono::microseconds::rep>(std::min<uint64_t>(microseconds, INT64_MAX))));
  });
}
const char* hwbp_last_error(void) { return g_last_error.c_str(); }

}  // extern "C"
