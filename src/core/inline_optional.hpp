// std::optional for the planning hot path. GCC 12's std::optional zero-fills its whole storage
// when default-constructed (measured: a `rep stos` over the 552 bytes of a slot-table plan on
// every SlotTable::plan() call, which the QEMU TCG test VM executes store by store). This one
// leaves an empty value's storage alone. Only the operations the planning code uses.
#pragma once

#include <new>
#include <optional>
#include <type_traits>

namespace hwbp::core {

template <typename T>
class InlineOptional {
  static_assert(std::is_trivially_destructible_v<T>, "InlineOptional holds plain values only");

 public:
  InlineOptional() noexcept {}
  InlineOptional(std::nullopt_t) noexcept {}
  InlineOptional(const T& value) : engaged_(true) { ::new (static_cast<void*>(&value_)) T(value); }
  InlineOptional(const InlineOptional& other) : engaged_(other.engaged_) {
    if (engaged_) ::new (static_cast<void*>(&value_)) T(other.value_);
  }
  InlineOptional& operator=(const InlineOptional& other) {
    if (this != &other) {
      engaged_ = other.engaged_;
      if (engaged_) ::new (static_cast<void*>(&value_)) T(other.value_);
    }
    return *this;
  }
  InlineOptional& operator=(const T& value) {
    ::new (static_cast<void*>(&value_)) T(value);
    engaged_ = true;
    return *this;
  }
  InlineOptional& operator=(std::nullopt_t) noexcept {
    engaged_ = false;
    return *this;
  }

  bool has_value() const noexcept { return engaged_; }
  explicit operator bool() const noexcept { return engaged_; }
  T& operator*() noexcept { return value_; }
  const T& operator*() const noexcept { return value_; }
  T* operator->() noexcept { return &value_; }
  const T* operator->() const noexcept { return &value_; }
  const T& value() const {
    if (!engaged_) throw std::bad_optional_access();
    return value_;
  }
  void reset() noexcept { engaged_ = false; }

 private:
  union {
    T value_;
  };
  bool engaged_ = false;
};

}  // namespace hwbp::core
