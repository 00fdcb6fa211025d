/* hwbp C API: hardware watchpoints for Linux over perf events, for C and FFI users.
 * Mirrors include/hwbp/hwbp.hpp. Functions return 0 on success or a negative hwbp_status;
 * hwbp_last_error() then gives the one-line message (per thread). Callbacks run in signal
 * context in the accessing thread: async-signal-safe code only. */
#ifndef HWBP_HWBP_H
#define HWBP_HWBP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum hwbp_access {
  HWBP_EXEC = 0,
  HWBP_WRITE = 1,
  HWBP_READ_WRITE = 2,
  HWBP_READ = 3,
  HWBP_MODIFY = 4
} hwbp_access;

typedef enum hwbp_status {
  HWBP_OK = 0,
  HWBP_E_INVALID_REQUEST = -1,
  HWBP_E_NO_SLOTS = -2,
  HWBP_E_PERMISSION = -3,
  HWBP_E_NO_SUCH_THREAD = -4,
  HWBP_E_UNSUPPORTED = -5,
  HWBP_E_INVALID_STATE = -6,
  HWBP_E_SYSTEM = -7
} hwbp_status;

typedef enum hwbp_target_kind { HWBP_TARGET_PROCESS = 0, HWBP_TARGET_THREAD = 1 } hwbp_target_kind;

typedef struct hwbp_hit {
  uint64_t watch_id;
  pid_t tid;
  uintptr_t addr;
  size_t len;
  uintptr_t ip;
  hwbp_access access;
  int has_values;
  int old_known;
  uint64_t old_value;
  uint64_t new_value;
  int async;
  void* context; /* ucontext_t* */
} hwbp_hit;

typedef void (*hwbp_callback)(const hwbp_hit* hit, void* user);

typedef struct hwbp_options {
  uintptr_t addr;
  size_t len;
  hwbp_access access;
  hwbp_target_kind target;
  pid_t tid;               /* HWBP_TARGET_THREAD: the thread (0 = calling thread) */
  hwbp_callback callback;  /* NULL: counting mode */
  void* user;
  int start_disabled;
} hwbp_options;

typedef struct hwbp_watch hwbp_watch;

int hwbp_watch_create(const hwbp_options* options, hwbp_watch** out);
void hwbp_watch_destroy(hwbp_watch* watch); /* NULL is fine */
int hwbp_watch_enable(hwbp_watch* watch);
int hwbp_watch_disable(hwbp_watch* watch);
int hwbp_watch_retarget(hwbp_watch* watch, uintptr_t addr, size_t len);
int hwbp_watch_hits(const hwbp_watch* watch, uint64_t* hits);
uint64_t hwbp_watch_id(const hwbp_watch* watch);

int hwbp_active(void);
unsigned hwbp_slots_per_thread(void);
const char* hwbp_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* HWBP_HWBP_H */
