#include "vmm/gdb_registers.hpp"

#include <fmt/format.h>

#include <array>
#include <vector>

#include "vmm/gdb_packet.hpp"

namespace hwbp::vmm::gdb {
namespace {

enum class Kind : std::uint8_t { gpr, pc, flags, segment, x87, x87_control, sse, mxcsr };

struct Reg {
  const char* name;
  unsigned bits;
  const char* type;
  Kind kind;
  int index;  // gpr: offset in kvm_regs order below; segment: 0 cs 1 ss 2 ds 3 es 4 fs 5 gs
  const char* group = nullptr;
};

// kvm_regs members by GDB's order for each arch.
__u64* gpr(kvm_regs& r, int i) {
  __u64* order[] = {&r.rax, &r.rcx, &r.rdx, &r.rbx, &r.rsp, &r.rbp, &r.rsi, &r.rdi,
                            &r.r8,  &r.r9,  &r.r10, &r.r11, &r.r12, &r.r13, &r.r14, &r.r15};
  return order[i];
}
kvm_segment& segment(kvm_sregs& s, int i) {
  kvm_segment* order[] = {&s.cs, &s.ss, &s.ds, &s.es, &s.fs, &s.gs};
  return *order[i];
}

// Indexes into gpr(): GDB's i386 order eax ecx edx ebx esp ebp esi edi; amd64 order rax rbx rcx
// rdx rsi rdi rbp rsp r8..r15 (gdb/features/i386/32bit-core.xml, 64bit-core.xml).
std::vector<Reg> build(Arch arch) {
  std::vector<Reg> regs;
  const bool wide = arch == Arch::x86_64;
  const unsigned w = wide ? 64 : 32;
  if (wide) {
    const char* names[] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
                           "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
    const int idx[] = {0, 3, 1, 2, 6, 7, 5, 4, 8, 9, 10, 11, 12, 13, 14, 15};
    for (int i = 0; i < 16; ++i)
      regs.push_back({names[i], w, i == 6 || i == 7 ? "data_ptr" : "int64", Kind::gpr, idx[i]});
    regs.push_back({"rip", w, "code_ptr", Kind::pc, 0});
  } else {
    const char* names[] = {"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"};
    for (int i = 0; i < 8; ++i) regs.push_back({names[i], w, i == 4 || i == 5 ? "data_ptr" : "int32", Kind::gpr, i});
    regs.push_back({"eip", w, "code_ptr", Kind::pc, 0});
  }
  regs.push_back({"eflags", 32, "int32", Kind::flags, 0});
  const char* segs[] = {"cs", "ss", "ds", "es", "fs", "gs"};
  for (int i = 0; i < 6; ++i) regs.push_back({segs[i], 32, "int32", Kind::segment, i});
  for (int i = 0; i < 8; ++i) regs.push_back({nullptr, 80, "i387_ext", Kind::x87, i});
  const char* control[] = {"fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"};
  for (int i = 0; i < 8; ++i) regs.push_back({control[i], 32, "int", Kind::x87_control, i, "float"});
  for (int i = 0; i < (wide ? 16 : 8); ++i) regs.push_back({nullptr, 128, "vec128", Kind::sse, i});
  regs.push_back({"mxcsr", 32, "int", Kind::mxcsr, 0, "vector"});
  return regs;
}

const std::vector<Reg>& table(Arch arch) {
  static const std::vector<Reg> i386 = build(Arch::i386), x86_64 = build(Arch::x86_64);
  return arch == Arch::i386 ? i386 : x86_64;
}

std::string reg_name(const Reg& r) {
  if (r.kind == Kind::x87) return fmt::format("st{}", r.index);
  if (r.kind == Kind::sse) return fmt::format("xmm{}", r.index);
  return r.name;
}

std::string make_xml(Arch arch) {
  std::string x = "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n";
  x += fmt::format("<architecture>{}</architecture>\n", arch == Arch::i386 ? "i386" : "i386:x86-64");
  x += "<feature name=\"org.gnu.gdb.i386.core\">\n";
  const auto& regs = table(arch);
  for (unsigned n = 0; n < regs.size(); ++n) {
    const Reg& r = regs[n];
    if (r.kind == Kind::sse) {
      x += "</feature>\n<feature name=\"org.gnu.gdb.i386.sse\">\n"
           "<vector id=\"v4f\" type=\"ieee_single\" count=\"4\"/><vector id=\"v2d\" type=\"ieee_double\" count=\"2\"/>"
           "<vector id=\"v16i8\" type=\"int8\" count=\"16\"/><vector id=\"v8i16\" type=\"int16\" count=\"8\"/>"
           "<vector id=\"v4i32\" type=\"int32\" count=\"4\"/><vector id=\"v2i64\" type=\"int64\" count=\"2\"/>"
           "<union id=\"vec128\"><field name=\"v4_float\" type=\"v4f\"/><field name=\"v2_double\" type=\"v2d\"/>"
           "<field name=\"v16_int8\" type=\"v16i8\"/><field name=\"v8_int16\" type=\"v8i16\"/>"
           "<field name=\"v4_int32\" type=\"v4i32\"/><field name=\"v2_int64\" type=\"v2i64\"/>"
           "<field name=\"uint128\" type=\"uint128\"/></union>\n";
      // Only before the first xmm register.
      for (; n < regs.size(); ++n) {
        const Reg& s = regs[n];
        x += fmt::format("<reg name=\"{}\" bitsize=\"{}\" type=\"{}\" regnum=\"{}\"{}/>\n", reg_name(s), s.bits, s.type,
                         n, s.group ? fmt::format(" group=\"{}\"", s.group) : "");
      }
      break;
    }
    x += fmt::format("<reg name=\"{}\" bitsize=\"{}\" type=\"{}\" regnum=\"{}\"{}/>\n", reg_name(r), r.bits, r.type, n,
                     r.group ? fmt::format(" group=\"{}\"", r.group) : "");
  }
  x += "</feature>\n</target>\n";
  return x;
}

std::uint64_t read(const Reg& r, const RegisterFile& f) {
  auto& file = const_cast<RegisterFile&>(f);
  switch (r.kind) {
    case Kind::gpr: return *gpr(file.regs, r.index);
    case Kind::pc: return f.regs.rip;
    case Kind::flags: return f.regs.rflags;
    case Kind::segment: return segment(file.sregs, r.index).selector;
    case Kind::x87_control: return r.index == 0 ? 0x37f : r.index == 2 ? 0xffff : 0;  // FNINIT state
    case Kind::mxcsr: return 0x1f80;
    default: return 0;
  }
}

void write(const Reg& r, std::uint64_t v, RegisterFile& f) {
  const std::uint64_t mask = r.bits >= 64 ? ~0ull : (1ull << r.bits) - 1;
  switch (r.kind) {
    case Kind::gpr: {
      __u64& dst = *gpr(f.regs, r.index);
      dst = (dst & ~mask) | (v & mask);
      break;
    }
    case Kind::pc: f.regs.rip = (f.regs.rip & ~mask) | (v & mask); break;
    case Kind::flags: f.regs.rflags = (v & 0xffffffff) | 0x2; break;
    case Kind::segment: segment(f.sregs, r.index).selector = static_cast<std::uint16_t>(v); break;
    default: break;
  }
}

}  // namespace

const std::string& target_xml(Arch arch) {
  static const std::string i386 = make_xml(Arch::i386), x86_64 = make_xml(Arch::x86_64);
  return arch == Arch::i386 ? i386 : x86_64;
}

unsigned register_count(Arch arch) { return static_cast<unsigned>(table(arch).size()); }

unsigned register_size(Arch arch, unsigned n) {
  const auto& regs = table(arch);
  return n < regs.size() ? regs[n].bits / 8 : 0;
}

std::string encode_registers(Arch arch, const RegisterFile& file) {
  std::string out;
  for (const Reg& r : table(arch)) out += le_hex(read(r, file), r.bits / 8);
  return out;
}

std::optional<std::string> encode_register(Arch arch, const RegisterFile& file, unsigned n) {
  const auto& regs = table(arch);
  if (n >= regs.size()) return std::nullopt;
  return le_hex(read(regs[n], file), regs[n].bits / 8);
}

bool decode_register(Arch arch, unsigned n, std::string_view hex, RegisterFile& file) {
  const auto& regs = table(arch);
  if (n >= regs.size() || hex.size() != regs[n].bits / 4) return false;
  auto bytes = from_hex(hex);
  if (!bytes) return false;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < bytes->size() && i < 8; ++i) v |= std::uint64_t{(*bytes)[i]} << (8 * i);
  write(regs[n], v, file);
  return true;
}

bool decode_registers(Arch arch, std::string_view hex, RegisterFile& file) {
  RegisterFile copy = file;
  std::size_t at = 0;
  const auto& regs = table(arch);
  for (unsigned n = 0; n < regs.size(); ++n) {
    const std::size_t len = regs[n].bits / 4;
    if (at + len > hex.size()) break;  // GDB may send fewer registers than described
    if (!decode_register(arch, n, hex.substr(at, len), copy)) return false;
    at += len;
  }
  if (at != hex.size()) return false;
  file = copy;
  return true;
}

}  // namespace hwbp::vmm::gdb
