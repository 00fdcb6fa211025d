// Name -> address for variables (and functions) of a live process, and address -> module.
//
// Looks in every loaded module's ELF symbol table (.symtab when present, else .dynsym, as libdwfl
// chooses) with the module's load bias applied, so PIE executables and ASLR'd libraries resolve to
// run-time addresses. Accepts mangled or demangled C++ names ("ns::counter", "f()::local_static").
//
// Copy relocations: when a non-PIC (or PIE, with GCC's default copy-reloc) executable uses a
// variable defined in a shared library, the dynamic linker copies the variable into the
// executable's .bss and every module's GOT points there; the library's own definition is dead.
// Both modules define the name, and the executable's copy is the one the program writes, so a
// definition in the main executable always wins. Among other global definitions the first module
// wins (the dynamic linker's interposition rule, approximated by the map order).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "symbols/process_image.hpp"

namespace hwbp::symbols {

enum class SymbolKind { object, function, other };

struct ResolvedSymbol {
  std::string name;          // the symbol's name as stored (mangled for C++)
  std::uint64_t address = 0; // run-time address of the symbol start + the requested offset
  std::uint64_t symbol_address = 0;  // run-time address of the symbol start
  std::uint64_t size = 0;    // st_size (0 if unknown); under ASan it includes the redzone
  std::uint64_t offset = 0;  // the +OFFSET of the request
  std::string module;        // path of the defining module
  SymbolKind kind = SymbolKind::other;
  bool is_local = false;     // STB_LOCAL: a static variable
};

// Where an address lies: "libfoo.so+0x1234".
struct ModuleLocation {
  std::string module;           // path, empty if the address is in no module (heap, stack)
  std::uint64_t offset = 0;     // from the module's lowest mapped address
  std::uint64_t elf_address = 0;// address as in the ELF file (what addr2line/objdump take)
};

class SymbolTable {
 public:
  explicit SymbolTable(std::shared_ptr<ProcessImage> image);

  // "NAME" or "NAME+OFFSET". Throws SymbolError: not_found (with suggestions in the message and
  // in suggestions()), ambiguous, bad_spec (offset beyond the symbol's size), unsupported (TLS).
  ResolvedSymbol resolve(std::string_view spec) const;

  // Every definition of the name across modules, best first (the one resolve() returns).
  std::vector<ResolvedSymbol> definitions(std::string_view name) const;

  ModuleLocation module_of(std::uint64_t addr) const;

  ProcessImage& image() const noexcept { return *image_; }

 private:
  std::vector<std::string> suggest(const std::string& name) const;
  std::shared_ptr<ProcessImage> image_;
};

}  // namespace hwbp::symbols
