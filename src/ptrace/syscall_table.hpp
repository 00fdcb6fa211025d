// What an x86-64 system call does to the caller's memory, from its number and arguments: the
// kernel-write knowledge of the ptrace page transport. Pure (no syscalls): structures the
// arguments point to (iovecs, msghdr, socklen_t, clone_args) are read through a callback.
//
// Kinds:
//   redirect      the kernel writes its result (rval bytes) from the start of one buffer:
//                 buffer = args[arg], capacity = args[len_arg]. The transport can point the
//                 argument at a scratch buffer and copy the result in at exit.
//   redirect_iov  the same over an iovec array (args[arg], count args[arg + 1]), filled in order.
//   released      known output ranges (`outputs`) the kernel may write anywhere in.
//   unmap         [args[arg], + args[len_arg]) stops being this memory (munmap, mmap MAP_FIXED).
//   remap         mremap.
//   protect       the program's mprotect / pkey_mprotect: [args[0], + args[1]) gets args[2].
//   discard       madvise that drops the contents of [args[0], + args[1]).
//   kernel_area   registers [args[0], + length) that the kernel writes *outside* system calls
//                 (rseq, set_robust_list, set_tid_address).
//   check_mapped  may unmap memory whose extent the arguments do not give (brk, shmdt, shmat).
// Not listed (documented limits): io_uring (the kernel writes asynchronously), and ioctls
// without a size in their number other than the few classic tty ones.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

namespace hwbp::ptrace {

struct OutputRange {
  std::uint64_t addr = 0, len = 0;
  bool operator==(const OutputRange&) const = default;
};

struct SyscallEffect {
  enum class Kind {
    none,
    redirect,
    redirect_iov,
    released,
    unmap,
    remap,
    protect,
    discard,
    kernel_area,
    check_mapped
  };
  Kind kind = Kind::none;
  const char* name = "";
  int arg = -1, len_arg = -1;
  // redirect/redirect_iov: the buffers the result fills, in order; also the extra outputs that
  // cannot be redirected (recvfrom's address, mq_timedreceive's priority) follow as `extra`.
  std::vector<OutputRange> outputs;
  std::vector<OutputRange> extra;
  std::uint64_t area_len = 0;  // kernel_area
};

// Reads len bytes at addr of the target; false if unreadable.
using ArgumentReader = std::function<bool(std::uint64_t addr, void* out, std::size_t len)>;

SyscallEffect syscall_effect(long nr, const std::array<std::uint64_t, 6>& args, const ArgumentReader& read);

// "read", "munmap", ... or "syscall NNN" (a static or thread-local string).
const char* syscall_name(long nr);

}  // namespace hwbp::ptrace
