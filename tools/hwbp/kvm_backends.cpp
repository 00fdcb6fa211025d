#include "kvm_backends.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

extern char** environ;

namespace hwbp::cli {
namespace {

namespace fs = std::filesystem;

bool exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

std::string loaded_kvm_module() {
  for (const char* m : {"kvm_intel", "kvm_amd", "kvm_pvm"})
    if (exists(std::string("/sys/module/") + m)) return m;
  return "";
}

bool cpu_is_qemu_tcg() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.find("QEMU TCG CPU") != std::string::npos;
  return false;
}

// What each backend can do for guest debugging (kvm-guest-debug.md 11, test-vm.md).
std::string module_note(const std::string& m) {
  if (m == "kvm_pvm") return "kvm_pvm: exec breakpoints and single-step, no guest data watchpoints";
  if (m == "kvm_amd" && cpu_is_qemu_tcg()) return "kvm_amd nested in QEMU TCG: this is the test VM";
  if (m.empty()) return "no kvm module loaded";
  return m;
}

void probe_native(KvmBackends& b) {
  const std::string module = loaded_kvm_module();
  if (!exists("/dev/kvm")) {
    b.native = "native /dev/kvm absent (" + (module.empty() ? "no kvm module" : module) + " loaded)";
    return;
  }
  const std::string note = module_note(module);
  const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    b.native = "native /dev/kvm not read/write for you (" + note + ")";
    b.fix = "add your user to the kvm group";
    return;
  }
  ::close(fd);
  b.native_usable = true;
  b.native = "native /dev/kvm (" + note + ")";
}

// The same place scripts/test-vm/common.sh uses.
fs::path test_vm_cache() {
  if (const char* c = std::getenv("HWBP_VM_CACHE"); c && *c) return c;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "hwbp/test-vm";
  const char* home = std::getenv("HOME");
  return fs::path(home && *home ? home : "/root") / ".cache/hwbp/test-vm";
}

std::map<std::string, std::string> read_manifest(const fs::path& file) {
  std::map<std::string, std::string> m;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);)
    if (auto eq = line.find('='); eq != std::string::npos) m[line.substr(0, eq)] = line.substr(eq + 1);
  return m;
}

// "1:10.0.2+ds-2+deb13u1~bpo12+1" -> "10.0.2"
std::string upstream_version(std::string v) {
  if (auto colon = v.find(':'); colon != std::string::npos) v.erase(0, colon + 1);
  if (auto end = v.find_first_of("+-~"); end != std::string::npos) v.erase(end);
  return v;
}

// The cached QEMU really starts (its shared libraries are installed): `--version`, exit 0.
bool qemu_starts(const fs::path& qemu) {
  posix_spawn_file_actions_t io;
  posix_spawn_file_actions_init(&io);
  posix_spawn_file_actions_addopen(&io, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&io, 2, "/dev/null", O_WRONLY, 0);
  const std::string path = qemu.string();
  char* argv[] = {const_cast<char*>(path.c_str()), const_cast<char*>("--version"), nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, path.c_str(), &io, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&io);
  if (rc != 0) return false;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void probe_test_vm(KvmBackends& b) {
  const fs::path cache = test_vm_cache();
  std::error_code ec;
  fs::path image;
  for (const auto& entry : fs::directory_iterator(cache, ec))
    if (entry.path().filename().string().rfind("image-", 0) == 0 && exists(entry.path() / "manifest"))
      image = entry.path();
  if (image.empty()) {
    b.test_vm = "test VM not set up";
    return;
  }
  const auto manifest = read_manifest(image / "manifest");
  const std::string what = "QEMU " + upstream_version(manifest.count("qemu_version") ? manifest.at("qemu_version") : "?") +
                           " TCG, kernel " + (manifest.count("kernel_release") ? manifest.at("kernel_release") : "?");
  if (!qemu_starts(image / "qemu/bin/qemu-system-x86_64")) {
    b.test_vm = "test VM cached in " + image.string() + " (" + what + ") but its QEMU does not start";
    return;
  }
  b.test_vm_ready = true;
  b.test_vm = "test VM ready (" + what + ")";
}

}  // namespace

KvmBackends probe_kvm_backends() {
  KvmBackends b;
  probe_native(b);
  probe_test_vm(b);
  if (!b.test_vm_ready)
    b.fix = (b.fix.empty() ? "" : b.fix + "; ") +
            std::string("run 'make deps' (as root: it also installs the test VM's packages) to set up "
                        "the test VM, where KVM tests run on any machine");
  return b;
}

}  // namespace hwbp::cli
