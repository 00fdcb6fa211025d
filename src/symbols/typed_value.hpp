// A watched object's bytes read as its C/C++ type, printed as GDB prints values (`print`, and
// the "Old value = / New value =" of `watch`), and which members of a struct or array a hit
// wrote. Pure: the layout is taken from DWARF once, when the watch is resolved
// (value_layout.hpp), so a hit only pays for formatting what is printed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace hwbp::symbols {

struct ValueLayout {
  enum class Kind : std::uint8_t {
    raw,  // no usable type (incomplete, a function, a layout too big to describe): hex bytes
    signed_int,
    unsigned_int,
    boolean,
    character,  // char, signed char, unsigned char: GDB prints 65 'A'
    floating,
    enumeration,
    pointer,
    aggregate,  // struct, union, class
    array,
  };
  struct Field {
    std::string name;
    std::uint64_t offset = 0;  // bytes from the start of the aggregate
    std::shared_ptr<const ValueLayout> layout;
  };

  Kind kind = Kind::raw;
  std::string type;        // as GDB prints it ("int", "struct config", "char [16]")
  std::uint64_t size = 0;  // bytes
  bool is_signed = false;  // character, enumeration: the underlying type's signedness
  // A bit-field: bits [bit_shift, bit_shift + bit_size) of its `size` bytes; 0: not one.
  unsigned bit_size = 0, bit_shift = 0;
  std::vector<std::pair<std::int64_t, std::string>> enumerators;  // enumeration
  std::vector<Field> fields;                                      // aggregate
  std::shared_ptr<const ValueLayout> element;                     // array: one element
  std::uint64_t count = 0;                                        // array: elements

  bool is_leaf() const noexcept { return kind != Kind::aggregate && (kind != Kind::array || is_text()); }
  // An array of characters: printed as a string ("start"), and one member for change reports.
  bool is_text() const noexcept {
    return kind == Kind::array && element && element->kind == Kind::character && element->size == 1;
  }
};

// An address as GDB shows what a pointer points to: "<second>", "<table+8>"; empty when the
// address is in no symbol (heap, stack, null).
using SymbolNamer = std::function<std::string(std::uint64_t)>;

// The value GDB would print for `bytes` read as `layout`: 3, -1, true, 65 'A', 1.5, RED,
// (A | B), 0x4c6a30 <second>, "start", {retries = 3, timeout = 100}, {0 <repeats 16 times>}.
// Bytes shorter than the type (a watch on part of an object) give raw hex.
std::string format_value(const ValueLayout& layout, std::span<const std::uint8_t> bytes,
                         const SymbolNamer& namer = {});
// Hex bytes, lowest address first, for values without a type: "[03 00 00 00]".
std::string raw_bytes_text(std::span<const std::uint8_t> bytes);

struct WrittenMember {
  std::string path;                    // "cfg.retries", "grid[2][3]", the label itself for a scalar
  const ValueLayout* layout = nullptr; // the member's (points into the watch's layout)
  std::uint64_t offset = 0;            // from the start of the watched bytes
};

// The members of a watched object that a hit wrote: the scalars (and strings) whose bytes differ
// between old and new; where none differs (a store of the same value), those overlapping the
// store's bytes `store` = {offset from the watch start, size}, when known. A scalar watch is its
// own one member. At most `limit` are returned; `*more` counts the rest.
std::vector<WrittenMember> written_members(const ValueLayout& layout, const std::string& label,
                                           std::span<const std::uint8_t> old_bytes,
                                           std::span<const std::uint8_t> new_bytes,
                                           std::optional<std::pair<std::uint64_t, std::uint64_t>> store,
                                           std::size_t limit, std::size_t* more);

}  // namespace hwbp::symbols
