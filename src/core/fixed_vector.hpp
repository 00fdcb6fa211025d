// A vector with a capacity fixed at compile time, stored inline: the hot paths that plan a few
// debug-register slots (hwbp::kvm arms a guest's watch set on every change) hold their chunks,
// keys and plans in these instead of allocating. Only for trivially copyable elements (chunks,
// slot keys, indexes). Slots past size() hold no object: neither constructing nor copying a
// FixedVector touches the unused capacity (a slot table of 64 entries copies the 4 in use).
// Boost's static_vector is the same idea; Boost is not a dependency of the project.
#pragma once

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <type_traits>

namespace hwbp::core {

template <typename T, std::size_t N>
class FixedVector {
  static_assert(std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>,
                "FixedVector holds plain values only");

 public:
  using value_type = T;
  using size_type = std::size_t;
  using iterator = T*;
  using const_iterator = const T*;
  using reference = T&;
  using const_reference = const T&;

  FixedVector() noexcept {}  // leaves the storage alone (`= default` would construct N elements)
  FixedVector(std::initializer_list<T> values) {
    for (const T& v : values) push_back(v);
  }
  FixedVector(const FixedVector& other) noexcept : size_(other.size_) {
    std::uninitialized_copy_n(other.items_, size_, items_);
  }
  FixedVector& operator=(const FixedVector& other) noexcept {
    size_ = other.size_;
    std::uninitialized_copy_n(other.items_, size_, items_);
    return *this;
  }

  static constexpr std::size_t capacity() noexcept { return N; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  bool full() const noexcept { return size_ == N; }

  // Throws std::length_error past the capacity: callers check full() (or count first) where
  // running out is an expected outcome; this is the guard against a broken precondition.
  void push_back(const T& value) {
    if (size_ == N) throw std::length_error("FixedVector: capacity exceeded");
    ::new (static_cast<void*>(items_ + size_)) T(value);
    ++size_;
  }
  void clear() noexcept { size_ = 0; }

  T* data() noexcept { return items_; }
  const T* data() const noexcept { return items_; }
  T* begin() noexcept { return items_; }
  T* end() noexcept { return items_ + size_; }
  const T* begin() const noexcept { return items_; }
  const T* end() const noexcept { return items_ + size_; }
  T& operator[](std::size_t i) noexcept { return items_[i]; }
  const T& operator[](std::size_t i) const noexcept { return items_[i]; }
  T& at(std::size_t i) {
    if (i >= size_) throw std::out_of_range("FixedVector::at");
    return items_[i];
  }
  const T& at(std::size_t i) const {
    if (i >= size_) throw std::out_of_range("FixedVector::at");
    return items_[i];
  }
  T& front() noexcept { return items_[0]; }
  const T& front() const noexcept { return items_[0]; }
  T& back() noexcept { return items_[size_ - 1]; }
  const T& back() const noexcept { return items_[size_ - 1]; }

  friend bool operator==(const FixedVector& a, const FixedVector& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  // Against any contiguous sequence (a std::vector in tests, a span).
  friend bool operator==(const FixedVector& a, std::span<const T> b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  union {
    T items_[N];  // [0, size_) hold objects; the rest is raw storage
  };
  std::size_t size_ = 0;
};

}  // namespace hwbp::core
