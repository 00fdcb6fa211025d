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

typedef enum hwbp_target_kind {
  HWBP_TARGET_PROCESS = 0,  /* every thread of this process, existing and future */
  HWBP_TARGET_THREAD = 1,   /* one thread (tid; 0 = the calling thread) */
  HWBP_TARGET_ALL_CPUS = 2  /* every task on every CPU: counting only, privileged (CAP_PERFMON) */
} hwbp_target_kind;

/* Which engine serves a watch (hwbp_options.engine; see hwbp::Engine in hwbp.hpp). */
typedef enum hwbp_engine {
  HWBP_ENGINE_AUTO = 0,      /* debug registers where they work and fit, else page protection / uprobe */
  HWBP_ENGINE_HARDWARE = 1,  /* debug registers only */
  HWBP_ENGINE_PAGE = 2       /* page protection (w, modify) or a uprobe (exec) only */
} hwbp_engine;

/* The mechanism that serves a watch (hwbp_watch_mechanism, hwbp_hit.mechanism). */
typedef enum hwbp_mechanism {
  HWBP_MECHANISM_DEBUG_REGISTERS = 0,
  HWBP_MECHANISM_PAGE_PROTECTION = 1,
  HWBP_MECHANISM_UPROBE = 2
} hwbp_mechanism;

/* Filled by the library and passed to the callback, valid during the call only. Fields are only
 * ever appended: a caller built against an older header reads the prefix it knows. */
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
  /* ---- added with the page engine (hwbp::Hit has the details) ---- */
  hwbp_mechanism mechanism;
  uintptr_t pc;               /* the accessing instruction where known (page protection, uprobe) */
  const uint8_t* old_bytes;   /* `len` exact bytes before the access; NULL when unknown */
  const uint8_t* new_bytes;   /* `len` bytes after it; NULL when the hit has no values */
  const char* syscall;        /* page protection: the system call that stored, else NULL */
  /* ---- added with exact values under racing writers (issue 17) ---- */
  int old_exact; /* old_value / old_bytes are exactly the bytes before this access, even when
                    other threads wrote them at the same time (hwbp::Hit has the rule) */
  int new_exact; /* new_value / new_bytes are exactly what this access stored */
} hwbp_hit;

typedef void (*hwbp_callback)(const hwbp_hit* hit, void* user);

/* A watch whose memory went away (page protection only; see hwbp::WatchEnd). */
typedef struct hwbp_end {
  uint64_t watch_id;
  pid_t tid;
  uintptr_t pc;
  const char* syscall; /* "munmap", "mremap", "madvise", ... */
} hwbp_end;

typedef void (*hwbp_end_callback)(const hwbp_end* end, void* user);

/* Options of hwbp_watch_create. Like perf_event_attr, the struct carries its own size, so that
 * later versions can add fields at the end without breaking callers built against this header:
 * start from HWBP_OPTIONS_INIT (size = sizeof(hwbp_options), everything else 0). The library
 * reads the first `size` bytes and treats fields beyond them as 0; a size of 0 is read as
 * HWBP_OPTIONS_SIZE_VER0 (a zero-filled struct whose caller never set it). A size larger than
 * this library knows is accepted only if the bytes it does not know are all 0, otherwise
 * HWBP_E_INVALID_REQUEST: the caller asked for something this library cannot do (perf answers
 * E2BIG in that case). */
typedef struct hwbp_options {
  uint32_t size;           /* sizeof(hwbp_options) as the caller was built: HWBP_OPTIONS_INIT */
  uintptr_t addr;
  size_t len;              /* any length: ranges are split into hardware-sized chunks */
  hwbp_access access;
  hwbp_target_kind target;
  pid_t tid;               /* HWBP_TARGET_THREAD: the thread (0 = calling thread) */
  hwbp_callback callback;  /* NULL: counting mode (hwbp_watch_hits) */
  void* user;
  int start_disabled;
  /* ---- HWBP_OPTIONS_SIZE_VER0 ends here ---- */
  int flexible;            /* take turns on the slots pinned watches leave free (see hwbp.hpp) */
  /* ---- HWBP_OPTIONS_SIZE_VER1 ends here ---- */
  hwbp_engine engine;          /* HWBP_ENGINE_AUTO (0) unless set */
  hwbp_end_callback on_end;    /* the watch's memory went away (page protection); may be NULL;
                                  gets `user` */
} hwbp_options;

#define HWBP_OPTIONS_SIZE_VER0 offsetof(hwbp_options, flexible)
#define HWBP_OPTIONS_SIZE_VER1 offsetof(hwbp_options, engine) /* + flexible */
#define HWBP_OPTIONS_SIZE_VER2 sizeof(hwbp_options)           /* + engine, on_end */
#ifdef __cplusplus
#define HWBP_OPTIONS_INIT hwbp_options{sizeof(hwbp_options)}
#else
#define HWBP_OPTIONS_INIT ((hwbp_options){.size = sizeof(hwbp_options)})
#endif

typedef struct hwbp_watch hwbp_watch;

int hwbp_watch_create(const hwbp_options* options, hwbp_watch** out);
void hwbp_watch_destroy(hwbp_watch* watch); /* NULL is fine */
int hwbp_watch_enable(hwbp_watch* watch);
int hwbp_watch_disable(hwbp_watch* watch);
int hwbp_watch_enabled(const hwbp_watch* watch, int* enabled);
int hwbp_watch_retarget(hwbp_watch* watch, uintptr_t addr, size_t len);
int hwbp_watch_hits(const hwbp_watch* watch, uint64_t* hits);
/* Fraction of the time since arming the watch was armed in hardware (1.0 for a pinned, enabled
 * watch; less for flexible and disabled ones): report it next to the hit count. */
int hwbp_watch_coverage(const hwbp_watch* watch, double* coverage);
uint64_t hwbp_watch_id(const hwbp_watch* watch);
/* The mechanism serving the watch and why (a static string: "debug exceptions are not
 * delivered here", "does not fit the free debug-register slots", "requested", ...). */
int hwbp_watch_mechanism(const hwbp_watch* watch, hwbp_mechanism* mechanism, const char** reason);
/* "debug registers", "page protection", "uprobe" (NULL for an unknown value). */
const char* hwbp_mechanism_name(hwbp_mechanism mechanism);

int hwbp_active(void);
unsigned hwbp_slots_per_thread(void);
/* Slots a request needs after splitting (before sharing), without arming. */
int hwbp_slots_needed(uintptr_t addr, size_t len, hwbp_access access, size_t* slots);
/* Time slice of the flexible-watch rotation in microseconds (default 5000; at least 100). */
int hwbp_set_rotation_interval(uint64_t microseconds);
const char* hwbp_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* HWBP_HWBP_H */
