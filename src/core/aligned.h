// SPDX-License-Identifier: MIT
// Cache-line-aligned vectors (core layer, no dependencies). AMX tile loads and stores that start
// off a 64-byte boundary touch two cache lines per row and run up to ~2x slower (oneDNN's AMX
// matmul: 512 x 896 -> 4864 took 7.2 ms from a 16-byte-aligned source, 3.8 ms from a 64-byte-
// aligned one, bench/RESULTS.md), so activation buffers that feed or receive matrix products use
// AlignedVector. Buffers of kHugeAllocation bytes and more start on a 2 MiB boundary and are
// advised into transparent huge pages: in this VM a first touch costs ~1.4 ms per MB in 4 KiB
// pages (a prefill's ~40 MB of fresh activations and KV cache, ~55 ms of a 512-token prompt)
// and ~0.05-0.7 ms per MB in huge pages.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace slotlm {

inline constexpr std::size_t kCacheLine = 64;
inline constexpr std::size_t kHugePage = std::size_t(2) << 20;  // a transparent huge page (x86-64)
inline constexpr std::size_t kHugeAllocation = std::size_t(4) << 20;

// ::operator new aligned to 64 bytes, or to 2 MiB with MADV_HUGEPAGE from kHugeAllocation bytes.
void* allocate_aligned(std::size_t bytes);
void free_aligned(void* p, std::size_t bytes);

template <class T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U>&) {}
  T* allocate(std::size_t n) { return static_cast<T*>(allocate_aligned(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) { free_aligned(p, n * sizeof(T)); }
  template <class U>
  bool operator==(const AlignedAllocator<U>&) const {
    return true;
  }
};

// std::vector whose data() is 64-byte aligned.
template <class T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

}  // namespace slotlm
