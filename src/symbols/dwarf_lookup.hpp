// Finding DIEs by what the user wrote: the DWARF variable behind an ELF symbol (for its type),
// and a type named in a cast. A walk over the compilation units' trees that descends only where
// such DIEs live (namespaces, classes, functions for their static variables), so types and
// locals are not visited one by one; run once per expression, at resolution time.
#pragma once

#include <elfutils/libdw.h>

#include <cstdint>
#include <optional>
#include <string>

#include "symbols/location_expression.hpp"
#include "symbols/process_image.hpp"

namespace hwbp::symbols {

bool module_has_dwarf(Dwfl_Module* mod);

// The DW_TAG_variable whose static location is the run-time address `addr` in mod.
std::optional<Dwarf_Die> variable_at(Dwfl_Module* mod, std::uint64_t addr);

// A variable DIE with a type, by source name ("counter", "ns::Class::member"), in any module,
// the main executable first. For a symbol whose defining DIE is elsewhere (a copy relocation:
// the executable holds the variable, the library's DWARF describes it).
std::optional<Dwarf_Die> variable_named(const ProcessImage& image, const std::string& name);

// A complete type named as in a cast ("struct foo", "foo_t", "ns::Widget"), main executable
// first.
std::optional<Dwarf_Die> type_named(const ProcessImage& image, const CastType& type);

// True when some module of the image has DWARF (to say why a type is unknown).
bool image_has_dwarf(const ProcessImage& image);

}  // namespace hwbp::symbols
