// SPDX-License-Identifier: MIT
#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "core/aligned.h"
#include "core/error.h"

namespace slotlm {

namespace {

// MemAvailable from /proc/meminfo in bytes, 0 when unknown.
size_t mem_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  size_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return 0;
}

}  // namespace

bool transparent_huge_pages_available() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string s;
  std::getline(in, s);
  return s.find("[always]") != std::string::npos || s.find("[madvise]") != std::string::npos;
}

MappedFile::MappedFile(const std::string& path, MapMode mode, uint64_t align_offset) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, ": cannot open: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, ": not a regular file");
  }
  size_ = size_t(st.st_size);
  try {
    if (size_ > 0 && !(mode == MapMode::kHugePages && copy_to_huge_pages(fd, align_offset))) map(fd);
  } catch (...) {
    ::close(fd);
    if (region_) ::munmap(region_, region_len_);
    throw;
  }
  ::close(fd);
}

void MappedFile::map(int fd) {
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) fail(path_, ": mmap failed: ", std::strerror(errno));
  data_ = static_cast<const uint8_t*>(p);
  region_ = p;
  region_len_ = size_;
}

bool MappedFile::copy_to_huge_pages(int fd, uint64_t align_offset) {
  if (size_ < kHugePage || !transparent_huge_pages_available()) return false;
  const size_t avail = mem_available();
  if (avail == 0 || size_ > avail / 2) return false;
  // One spare huge page to align the start, plus the shift that puts align_offset on 64 bytes.
  const size_t shift = (kCacheLine - align_offset % kCacheLine) % kCacheLine;
  const size_t len = (size_ + shift + kHugePage - 1) / kHugePage * kHugePage + kHugePage;
  void* p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  region_ = p;
  region_len_ = len;
  const uintptr_t base = (reinterpret_cast<uintptr_t>(p) + kHugePage - 1) / kHugePage * kHugePage;
  uint8_t* dst = reinterpret_cast<uint8_t*>(base) + shift;
  ::madvise(reinterpret_cast<void*>(base), len - kHugePage, MADV_HUGEPAGE);  // a hint; ignore failure
  size_t got = 0;
  while (got < size_) {
    const ssize_t r = ::pread(fd, dst + got, size_ - got, off_t(got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) fail(path_, ": read failed: ", std::strerror(errno));
    if (r == 0) fail(path_, ": file shrank while reading (", got, " of ", size_, " bytes)");
    got += size_t(r);
  }
  ::mprotect(reinterpret_cast<void*>(base), len - kHugePage, PROT_READ);  // weights stay read-only
  data_ = dst;
  huge_ = true;
  return true;
}

MappedFile::~MappedFile() {
  if (region_) ::munmap(region_, region_len_);
}

void MappedFile::drop_pages(const void* p, size_t n) const {
  if (huge_ || !data_) return;
  const uintptr_t lo = reinterpret_cast<uintptr_t>(p), hi = lo + n;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data_), end = begin + size_;
  if (lo < begin || hi > end) fail(path_, ": drop_pages outside the mapping");
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = (lo + page - 1) / page * page, last = hi / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);  // a hint
}

void MappedFile::read(const void* p, size_t n, void* dst) const {
  const auto* b = static_cast<const uint8_t*>(p);
  if (b < data_ || n > size_ || size_t(b - data_) > size_ - n) fail(path_, ": read outside the file");
  if (huge_) {
    std::memcpy(dst, b, n);
    return;
  }
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path_, ": cannot open: ", std::strerror(errno));
  const off_t at = off_t(b - data_);
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(fd, static_cast<uint8_t*>(dst) + got, n - got, at + off_t(got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      const int err = errno;
      ::close(fd);
      if (r == 0) fail(path_, ": file shrank while reading (", at + off_t(got), " of ", size_, " bytes)");
      fail(path_, ": read failed: ", std::strerror(err));
    }
    got += size_t(r);
  }
  ::close(fd);
}

PageBuffer::PageBuffer(size_t bytes, const std::string& what) : size_(bytes) {
  if (bytes == 0) return;
  region_len_ = (bytes + kHugePage - 1) / kHugePage * kHugePage + kHugePage;  // + one to align the start
  void* p = ::mmap(nullptr, region_len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    region_ = nullptr;
    fail(what, ": cannot allocate ", bytes >> 20, " MiB: ", std::strerror(errno));
  }
  region_ = p;
  const uintptr_t base = (reinterpret_cast<uintptr_t>(p) + kHugePage - 1) / kHugePage * kHugePage;
  data_ = reinterpret_cast<uint8_t*>(base);
  ::madvise(data_, region_len_ - kHugePage, MADV_HUGEPAGE);  // a hint; ignore failure
}

PageBuffer::~PageBuffer() {
  if (region_) ::munmap(region_, region_len_);
}

void PageBuffer::swap(PageBuffer& o) noexcept {
  std::swap(data_, o.data_);
  std::swap(size_, o.size_);
  std::swap(region_, o.region_);
  std::swap(region_len_, o.region_len_);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open: ", std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(path, ": read error");
  return ss.str();
}

}  // namespace slotlm
