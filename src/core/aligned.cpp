// SPDX-License-Identifier: MIT
#include "core/aligned.h"

#include <sys/mman.h>

namespace slotlm {

namespace {

std::align_val_t alignment(std::size_t bytes) {
  return std::align_val_t(bytes >= kHugeAllocation ? kHugePage : kCacheLine);
}

}  // namespace

void* allocate_aligned(std::size_t bytes) {
  void* p = ::operator new(bytes, alignment(bytes));
  // A hint: without transparent huge pages (or with them off) the buffer is in 4 KiB pages.
  if (bytes >= kHugeAllocation) ::madvise(p, bytes / kHugePage * kHugePage, MADV_HUGEPAGE);
  return p;
}

void free_aligned(void* p, std::size_t bytes) { ::operator delete(p, alignment(bytes)); }

}  // namespace slotlm
