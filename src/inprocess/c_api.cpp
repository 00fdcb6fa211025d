// C API over the C++ one: exceptions become status codes plus a per-thread message.
#include "hwbp/hwbp.h"

#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "hwbp/hwbp.hpp"

struct hwbp_watch {
  hwbp::Watch watch;
  hwbp_callback callback;
  void* user;
};

namespace {

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

int invalid_handle() {
  g_last_error = "null hwbp_watch handle; pass the handle hwbp_watch_create returned";
  return HWBP_E_INVALID_STATE;
}

}  // namespace

extern "C" {

int hwbp_watch_create(const hwbp_options* o, hwbp_watch** out) {
  if (o == nullptr || out == nullptr) {
    g_last_error = "hwbp_watch_create needs options and an output pointer";
    return HWBP_E_INVALID_REQUEST;
  }
  *out = nullptr;
  // Read as a plain int: a C caller can store any value in the enum field.
  int access = 0;
  std::memcpy(&access, &o->access, sizeof access);
  if (access < HWBP_EXEC || access > HWBP_MODIFY) {
    g_last_error = "unknown access kind " + std::to_string(access) +
                   "; use HWBP_EXEC, HWBP_WRITE, HWBP_READ_WRITE, HWBP_READ or HWBP_MODIFY";
    return HWBP_E_INVALID_REQUEST;
  }
  return guarded([&] {
    auto* handle = new hwbp_watch{hwbp::Watch(), o->callback, o->user};
    hwbp::WatchOptions opts;
    opts.addr = o->addr;
    opts.len = o->len;
    opts.access = static_cast<hwbp::Access>(access);
    opts.target = o->target == HWBP_TARGET_THREAD
                      ? (o->tid == 0 ? hwbp::Target::this_thread() : hwbp::Target::thread(o->tid))
                      : hwbp::Target::process();
    opts.enabled = o->start_disabled == 0;
    if (o->callback != nullptr) {
      opts.callback = [handle](const hwbp::Hit& h) {
        hwbp_hit c{h.watch_id, h.tid, h.addr, h.len, h.ip, static_cast<hwbp_access>(h.access),
                   h.has_values, h.old_known, h.old_value, h.new_value, h.async, h.context};
        handle->callback(&c, handle->user);
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
int hwbp_watch_retarget(hwbp_watch* w, uintptr_t addr, size_t len) {
  return w == nullptr ? invalid_handle() : guarded([&] { w->watch.retarget(addr, len); });
}
int hwbp_watch_hits(const hwbp_watch* w, uint64_t* hits) {
  if (w == nullptr || hits == nullptr) return invalid_handle();
  return guarded([&] { *hits = w->watch.hits(); });
}
uint64_t hwbp_watch_id(const hwbp_watch* w) { return w == nullptr ? 0 : w->watch.id(); }
int hwbp_active(void) { return hwbp::active() ? 1 : 0; }
unsigned hwbp_slots_per_thread(void) { return hwbp::slots_per_thread(); }
const char* hwbp_last_error(void) { return g_last_error.c_str(); }

}  // extern "C"
