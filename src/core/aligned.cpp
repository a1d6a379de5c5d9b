// SPDX-License-Identifier: MIT
#include "core/aligned.h"

#include <sys/mman.h>

namespace slotlm {

namespace {

constexpr std::size_t kHugePageBytes = std::size_t(2) << 20;

std::align_val_t alignment(std::size_t bytes) {
  return std::align_val_t(bytes >= kHugeAllocation ? kHugePageBytes : kCacheLine);
}

}  // namespace

void* allocate_aligned(std::size_t bytes) {
  void* p = ::operator new(bytes, alignment(bytes));
  // A hint: without transparent huge pages (or with them off) the buffer is in 4 KiB pages.
  if (bytes >= kHugeAllocation) ::madvise(p, bytes / kHugePageBytes * kHugePageBytes, MADV_HUGEPAGE);
  return p;
}

void free_aligned(void* p, std::size_t bytes) { ::operator delete(p, alignment(bytes)); }

}  // namespace slotlm
