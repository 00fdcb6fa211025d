#include "symbols/location_evaluator.hpp"

#include <dwarf.h>
#include <fmt/format.h>

#include <cstring>
#include <optional>

#include "symbols/dwarf_lookup.hpp"
#include "symbols/dwarf_type.hpp"
#include "symbols/location_expression.hpp"
#include "symbols/symbol_error.hpp"
#include "symbols/value_layout.hpp"

namespace hwbp::symbols {
namespace {

constexpr std::size_t kPointerSize = 8;

// An intermediate result: an lvalue (bytes at an address) or an rvalue (a number), typed from
// DWARF or a cast, or untyped (an ELF symbol without DWARF, a literal).
struct Value {
  bool lvalue = true;
  std::uint64_t where = 0;          // lvalue: its address; rvalue: its value
  std::optional<TypeRef> type;
  std::uint64_t untyped_size = 0;   // untyped lvalue, or &untyped: the symbol's size
  bool untyped_pointer = false;     // rvalue &sym where sym has no type
  std::string text;                 // the sub-expression, for messages
  std::string untyped_why;          // why there is no type
  bool in_register = false;         // rvalue: a local kept in a register (no address)
};

std::optional<TypeRef> declared_type(const Dwarf_Die& var) {
  Dwarf_Die die = var, type;
  Dwarf_Attribute attr;
  if (!dwarf_formref_die(dwarf_attr_integrate(&die, DW_AT_type, &attr), &type)) return std::nullopt;
  return TypeRef::of(type);
}

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "(none)" : out;
}

class Evaluation {
 public:
  Evaluation(const SymbolTable& table, const ProcessMemory* memory, const StoppedFrame* frame,
             std::string_view text)
      : table_(table), memory_(memory), frame_(frame), full_(text) {}

  bool read_target = false;
  bool in_frame = false;

  Value eval(const LocationExpr& e) {
    using K = LocationExpr::Kind;
    Value v;
    switch (e.kind) {
      case K::name: v = name(e); break;
      case K::number: v = Value{false, e.value, std::nullopt, 0, false, {}, {}}; break;
      case K::member: v = member(eval(*e.operand), e.name); break;
      case K::arrow: {
        Value target = deref(eval(*e.operand), "->");
        target.text = "*" + e.operand->text();
        v = member(target, e.name);
        break;
      }
      case K::index: v = index(eval(*e.operand), e.value); break;
      case K::deref: v = deref(eval(*e.operand), "*"); break;
      case K::address_of: v = address_of(eval(*e.operand)); break;
      case K::cast: v = cast(eval(*e.operand), e.type); break;
    }
    v.text = e.text();
    return v;
  }

  ResolvedLocation finish(const Value& v) {
    ResolvedLocation out;
    out.text = v.text;
    out.read_target = read_target;
    out.in_frame = in_frame;
    if (v.in_register)
      fail(SymbolErrc::bad_spec, fmt::format("'{}' is kept in a register at this point, so it has no "
                                             "address to watch; watch what it points to ({}->member, "
                                             "*{}), or stop at a later line where it is in memory "
                                             "(--at FILE:LINE), or build with -O0", v.text, v.text, v.text));
    if (v.lvalue || v.untyped_pointer) {
      out.address = v.where;
      out.size = v.type ? type_size(*v.type).value_or(0) : v.untyped_size;
      if (v.type) out.type = type_name(*v.type);
      if (v.type) out.layout = value_layout(*v.type);
      return out;
    }
    if (!v.type || !is_pointer(*v.type))
      fail(SymbolErrc::bad_spec,
           fmt::format("'{}' is {}, a value and not a location; watch what it points to, e.g. "
                       "*(long *){}", v.text, v.type ? type_name(*v.type) : "a number", v.text));
    const TypeRef target = pointee(*v.type);
    out.address = v.where;
    out.size = type_size(target).value_or(0);
    out.type = type_name(target);
    out.layout = value_layout(target);
    return out;
  }

 private:
  [[noreturn]] void fail(SymbolErrc code, const std::string& what) const {
    throw SymbolError(code, fmt::format("expression '{}': {}", full_, what));
  }

  const TypeRef& typed(const Value& v, std::string_view op) const {
    if (v.type) return *v.type;
    if (!v.lvalue && !v.untyped_pointer)
      fail(SymbolErrc::bad_spec, fmt::format("'{}' is a plain number: cast it to a pointer first, "
                                             "e.g. ((struct foo *){})->field or *(long *){}",
                                             v.text, v.text, v.text));
    fail(SymbolErrc::unsupported,
         fmt::format("'{}' has no type ({}): '{}' needs types, and types need debug info; build "
                     "with -g or install the program's debug package, or watch {}+OFFSET:LEN",
                     v.text, v.untyped_why, op, v.text));
  }

  Value name(const LocationExpr& e) {
    if (frame_) {
      std::optional<FrameVariable> local;
      try {
        local = frame_variable(table_.image(), *frame_, e.name);
      } catch (const SymbolError& err) {
        fail(err.symbol_code(), err.what());
      }
      if (local) {
        Value v;
        v.where = local->register_value.value_or(local->address);
        v.lvalue = !local->register_value;
        v.in_register = local->register_value.has_value();
        v.type = declared_type(local->die);
        if (!v.type) v.untyped_why = "the debug info does not give its type";
        in_frame = true;
        return v;
      }
    }
    ResolvedSymbol sym = table_.resolve(e.name);
    Value v;
    v.where = sym.address;
    v.untyped_size = sym.size;
    ModuleInfo m = table_.image().module_at(sym.symbol_address);
    std::optional<Dwarf_Die> die = m.handle ? variable_at(m.handle, sym.symbol_address) : std::nullopt;
    if (!die) die = variable_named(table_.image(), e.name);  // a copy relocation's library
    if (die) v.type = declared_type(*die);
    if (!v.type)
      v.untyped_why = m.handle && module_has_dwarf(m.handle)
                          ? "the debug info of " + sym.module + " does not describe it"
                          : "no debug info for " + sym.module;
    return v;
  }

  Value member(const Value& v, const std::string& field) {
    if (v.in_register)
      fail(SymbolErrc::bad_spec, fmt::format("'{}' is kept in registers at this point: its members "
                                             "have no address to watch", v.text));
    const TypeRef& t = typed(v, "." + field);
    if (is_pointer(t))
      fail(SymbolErrc::bad_spec, fmt::format("'{}' is a pointer ({}): write {}->{}", v.text,
                                             type_name(t), v.text, field));
    if (!is_aggregate(t))
      fail(SymbolErrc::bad_spec, fmt::format("'{}' is {}, not a struct, union or class, so it has "
                                             "no member '{}'", v.text, type_name(t), field));
    auto m = find_member(t, field);
    if (!m)
      fail(SymbolErrc::bad_spec, fmt::format("{} has no member '{}'; members: {}", type_name(t),
                                             field, join(member_names(t))));
    Value out;
    out.where = v.where + m->offset;
    out.type = m->type;
    if (m->size) {  // a bit-field: its bytes, untyped (the type's size would overshoot)
      out.type.reset();
      out.untyped_size = *m->size;
      out.untyped_why = "a bit-field";
    }
    return out;
  }

  std::uint64_t pointer_value(const Value& v) {
    if (!v.lvalue) return v.where;
    if (!memory_)
      fail(SymbolErrc::needs_memory,
           fmt::format("following the pointer '{}' reads it in the running program; give a "
                       "process (hwbp run/attach, or plan -p PID)", v.text));
    std::vector<std::uint8_t> bytes = memory_->read(v.where, kPointerSize);
    std::uint64_t p = 0;
    std::memcpy(&p, bytes.data(), kPointerSize);
    read_target = true;
    return p;
  }

  Value deref(const Value& v, std::string_view op) {
    const TypeRef& t = typed(v, op);
    if (!is_pointer(t)) {
      if (array_dimension(t)) return index(v, 0);  // *arr is arr[0], as in C
      fail(SymbolErrc::bad_spec, fmt::format("'{}' is {}, not a pointer{}", v.text, type_name(t),
                                             op == "->" ? fmt::format(": write {}.member", v.text) : ""));
    }
    Value out;
    out.where = pointer_value(v);
    out.type = pointee(t);
    if (out.where == 0)
      fail(SymbolErrc::bad_spec, fmt::format("'{}' is a null pointer now; watch it when it points "
                                             "somewhere, or watch the pointer itself", v.text));
    return out;
  }

  Value index(const Value& v, std::uint64_t i) {
    const TypeRef& t = typed(v, "[]");
    Value out;
    if (auto dim = array_dimension(t)) {
      if (dim->count && i >= *dim->count)
        fail(SymbolErrc::bad_spec, fmt::format("index {} is out of bounds for '{}' ({}): valid "
                                               "indexes are 0 to {}", i, v.text, type_name(t),
                                               *dim->count - 1));
      auto elem = type_size(dim->element);
      if (!elem) fail(SymbolErrc::bad_spec, fmt::format("the elements of '{}' have no known size", v.text));
      out.where = v.where + i * *elem;
      out.type = dim->element;
      return out;
    }
    if (!is_pointer(t))
      fail(SymbolErrc::bad_spec, fmt::format("'{}' is {}, neither an array nor a pointer", v.text,
                                             type_name(t)));
    const TypeRef target = pointee(t);
    auto elem = type_size(target);
    if (!elem) fail(SymbolErrc::bad_spec, fmt::format("'{}' points to {}, which has no size", v.text, type_name(target)));
    out.where = pointer_value(v) + i * *elem;
    out.type = target;
    return out;
  }

  Value address_of(const Value& v) {
    if (v.in_register)
      fail(SymbolErrc::bad_spec, fmt::format("'{}' is kept in a register at this point: it has no "
                                             "address", v.text));
    if (!v.lvalue) fail(SymbolErrc::bad_spec, fmt::format("'{}' is a value: it has no address", v.text));
    Value out = v;
    out.lvalue = false;
    if (v.type) {
      out.type->pointers += 1;
    } else {
      out.untyped_pointer = true;
    }
    return out;
  }

  TypeRef cast_target(const CastType& ct) const {
    TypeRef t;
    if (ct.keyword.empty() && is_c_type_words(ct.name)) {
      t = TypeRef::named(ct.name);
    } else if (auto die = type_named(table_.image(), ct)) {
      t = TypeRef::of(*die);
    } else if (ct.keyword.empty() && builtin_type_size(ct.name)) {
      t = TypeRef::named(ct.name);
    } else {
      CastType bare = ct;
      bare.pointers = 0;
      fail(image_has_dwarf(table_.image()) ? SymbolErrc::bad_spec : SymbolErrc::unsupported,
           image_has_dwarf(table_.image())
               ? fmt::format("no type '{}' in the program's debug info", bare.text())
               : fmt::format("no type '{}': types need debug info (build with -g or install the "
                             "program's debug package); C types such as long work without it",
                             bare.text()));
    }
    t.pointers += ct.pointers;
    return t;
  }

  Value cast(const Value& v, const CastType& ct) {
    TypeRef target = cast_target(ct);
    if (!is_pointer(target))
      fail(SymbolErrc::bad_spec, fmt::format("cast to '{}': only casts to pointer types make a "
                                             "location, e.g. *({} *){}", ct.text(), ct.text(), v.text));
    Value out;
    out.lvalue = false;
    out.type = target;
    if (!v.lvalue) {
      out.where = v.where;
    } else {
      // (T *)var: var holds the pointer (GDB reads it the same way).
      if (v.type && type_size(*v.type).value_or(kPointerSize) != kPointerSize)
        fail(SymbolErrc::bad_spec, fmt::format("'{}' is {}, not pointer-sized: it cannot hold a "
                                               "pointer", v.text, type_name(*v.type)));
      Value as_pointer = v;
      out.where = pointer_value(as_pointer);
    }
    return out;
  }

  const SymbolTable& table_;
  const ProcessMemory* memory_;
  const StoppedFrame* frame_;
  std::string full_;
};

}  // namespace

ResolvedLocation LocationEvaluator::evaluate(std::string_view text) const {
  auto expr = parse_location_expression(text);
  Evaluation e(table_, memory_, frame_, text);
  ResolvedLocation out = e.finish(e.eval(*expr));
  // Lives in the frame (and ends with it) when its bytes are in the frame's stack: from the
  // ABI's red zone below the stack pointer (System V AMD64 psABI 3.2.2: 128 bytes) up to the
  // CFA. Through a pointer to the heap or a global it outlives the frame; a static local too.
  if (frame_ && frame_->cfa) {
    constexpr std::uint64_t kRedZone = 128;
    out.in_frame = out.address + out.size > frame_->state.sp() - kRedZone && out.address < *frame_->cfa;
  }
  return out;
}

}  // namespace hwbp::symbols
