#include "inprocess/thread_gate.hpp"

#include <dlfcn.h>
#include <pthread.h>

#include <cerrno>

// glibc's own definition; in libc.a pthread_create is a weak alias of it (a static executable
// has no dynamic loader for RTLD_NEXT). Weak: libc.so does not export it.
extern "C" int __pthread_create_2_1(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*)
    __attribute__((weak));

namespace hwbp::inprocess {
namespace {

using CreateFn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);

// Writer-preferring: a program creating threads without pause must not starve an arming.
pthread_rwlock_t g_gate = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;

// A fork() while another thread held the gate leaves the child a gate nobody will release; the
// child has one thread, which holds nothing.
void reset_in_child() noexcept {
  pthread_rwlock_t fresh = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
  g_gate = fresh;
}

CreateFn real_pthread_create() noexcept {
  static CreateFn fn = [] {
    pthread_atfork(nullptr, nullptr, reset_in_child);
    auto f = reinterpret_cast<CreateFn>(dlsym(RTLD_NEXT, "pthread_create"));
    return f != nullptr ? f : __pthread_create_2_1;
  }();
  return fn;
}

}  // namespace

ThreadCreationPause::ThreadCreationPause() {
  real_pthread_create();  // the fork handler is registered before the gate is first held
  pthread_rwlock_wrlock(&g_gate);
}

ThreadCreationPause::~ThreadCreationPause() { pthread_rwlock_unlock(&g_gate); }

}  // namespace hwbp::inprocess

// The creation holds the gate shared across the clone: when pthread_create returns, the new
// thread is in /proc/self/task (copy_process links it before clone returns).
extern "C" int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*),
                              void* arg) {
  using namespace hwbp::inprocess;
  const CreateFn real = real_pthread_create();
  if (real == nullptr) return ENOSYS;  // neither found: cannot happen with glibc
  pthread_rwlock_rdlock(&g_gate);
  const int rc = real(thread, attr, start, arg);
  pthread_rwlock_unlock(&g_gate);
  return rc;
}
