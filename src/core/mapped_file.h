// SPDX-License-Identifier: MIT
// Read-only file contents in memory (core layer): memory-mapped, or copied once into transparent
// huge pages. Weights are viewed in place either way, never copied again.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace slotlm {

enum class MapMode {
  kMap,        // mmap the file (pages shared with the page cache, faulted in on first touch)
  kHugePages,  // read it once into 2 MiB transparent huge pages when the kernel offers them
};

class MappedFile {
 public:
  // Maps `path` read-only; throws Error naming the file if it cannot be opened, mapped or read.
  // kHugePages falls back to kMap when transparent huge pages are off, the file is under 2 MiB, or
  // it is larger than half of MemAvailable (a mapping can be evicted under memory pressure, a copy
  // cannot). In the copy, the byte at file offset `align_offset` lands on a 64-byte boundary (the
  // safetensors data section, so tensor rows start cache-line aligned).
  explicit MappedFile(const std::string& path, MapMode mode = MapMode::kMap, uint64_t align_offset = 0);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // True when the contents were copied into huge pages (kHugePages taken, not fallen back).
  bool huge_pages() const { return huge_; }
  // For a mapping (not a huge-page copy): gives back the resident pages lying wholly inside
  // [p, p + n), which must be inside the file; touched again, they are read from the file again.
  // A no-op for a copy (its pages hold the only copy of the contents).
  void drop_pages(const void* p, size_t n) const;
  // Copies [p, p + n), which must be inside the file, into `dst`: for a mapping by reading the file
  // (no page of the mapping is touched: faulting a mapping in 4 KiB pages is ~4x slower than a
  // read here), for a copy with memcpy. Throws Error naming the file when it cannot be read.
  void read(const void* p, size_t n, void* dst) const;

 private:
  void map(int fd);
  bool copy_to_huge_pages(int fd, uint64_t align_offset);

  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  void* region_ = nullptr;  // what munmap releases
  size_t region_len_ = 0;
  bool huge_ = false;
};

// Whether /sys/kernel/mm/transparent_hugepage/enabled allows madvise(MADV_HUGEPAGE) to work.
bool transparent_huge_pages_available();

// Anonymous read-write memory of `bytes` starting on a 2 MiB boundary, advised into transparent
// huge pages (a hint), zero-filled; unmapped with the object. Throws Error naming `what` when the
// memory cannot be had.
class PageBuffer {
 public:
  PageBuffer() = default;
  PageBuffer(size_t bytes, const std::string& what);
  ~PageBuffer();
  PageBuffer(PageBuffer&& o) noexcept { swap(o); }
  PageBuffer& operator=(PageBuffer&& o) noexcept {
    swap(o);
    return *this;
  }
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void swap(PageBuffer& o) noexcept;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  void* region_ = nullptr;
  size_t region_len_ = 0;
};

std::string read_file(const std::string& path);

}  // namespace slotlm
