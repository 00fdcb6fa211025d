// hwbp_symbolize FILE [EVERY]: for a sample of pcs of an ELF file (the middle of every EVERY-th
// function symbol), prints "PC<TAB>FUNCTION<TAB>FILE:LINE" as hwbp's reports name them (SourceLocator
// over an offline image: the file's own addresses). compare_with_gdb.sh asks GDB the same.
#include <elfutils/libdwfl.h>
#include <gelf.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <set>

#include "symbols/process_image.hpp"
#include "symbols/source_locator.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE [EVERY]\n", argv[0]);
    return 2;
  }
  const int every = argc > 2 ? std::atoi(argv[2]) : 1;
  try {
    auto image = hwbp::symbols::ProcessImage::open_file(argv[1]);
    hwbp::symbols::SourceLocator locator(image);
    std::set<GElf_Addr> pcs;
    image->for_each_module([&](const hwbp::symbols::ModuleInfo& m) {
      const int n = dwfl_module_getsymtab(m.handle);
      for (int i = 1, k = 0; i < n; ++i) {
        GElf_Sym sym;
        GElf_Addr addr = 0;
        const char* name = dwfl_module_getsym_info(m.handle, i, &sym, &addr, nullptr, nullptr, nullptr);
        if (!name || GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_size < 2 || sym.st_shndx == SHN_UNDEF) continue;
        if (k++ % every == 0) pcs.insert(addr + sym.st_size / 2);
      }
      return true;
    });
    for (GElf_Addr pc : pcs) {
      auto loc = locator.locate(pc);
      if (!loc) continue;
      // The innermost (inlined) function is what GDB's block_for_pc(pc).function names.
      const std::string& fn = loc->inlined.empty() ? loc->function : loc->inlined.front().function;
      std::printf("%#llx\t%s\t%s:%d\n", static_cast<unsigned long long>(pc), fn.empty() ? "??" : fn.c_str(),
                  loc->file.empty() ? "??" : loc->file.c_str(), loc->line);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hwbp_symbolize: %s\n", e.what());
    return 1;
  }
  return 0;
}
