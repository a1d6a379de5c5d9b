// SPDX-License-Identifier: MIT
// Cache-line-aligned vectors (core layer, no dependencies). AMX tile loads and stores that start
// off a 64-byte boundary touch two cache lines per row and run up to ~2x slower (oneDNN's AMX
// matmul: 512 x 896 -> 4864 took 7.2 ms from a 16-byte-aligned source, 3.8 ms from a 64-byte-
// aligned one, bench/RESULTS.md), so activation buffers that feed or receive matrix products use
// AlignedVector.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace slotlm {

inline constexpr std::size_t kCacheLine = 64;

template <class T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U>&) {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(kCacheLine)));
  }
  void deallocate(T* p, std::size_t) { ::operator delete(p, std::align_val_t(kCacheLine)); }
  template <class U>
  bool operator==(const AlignedAllocator<U>&) const {
    return true;
  }
};

// std::vector whose data() is 64-byte aligned.
template <class T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

}  // namespace slotlm
