// SPDX-License-Identifier: MIT
// MappedFile: the mapping and the huge-page copy hold the same bytes; the copy puts the requested
// file offset on a cache line; small files fall back to the mapping; bad paths are one-line errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <vector>

#include "core/error.h"
#include "core/mapped_file.h"

namespace slotlm {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class MappedFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("slotlm_mapped_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::vector<uint8_t>& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    return path;
  }
  static std::vector<uint8_t> random_bytes(size_t n) {
    std::mt19937 rng(5);
    std::vector<uint8_t> v(n);
    for (auto& b : v) b = uint8_t(rng());
    return v;
  }
  fs::path dir_;
};

// 3 MiB + 5 bytes: over the 2 MiB threshold, not a whole number of pages.
TEST_F(MappedFileTest, HugePageCopyHoldsTheFileAndAlignsTheRequestedOffset) {
  const std::vector<uint8_t> bytes = random_bytes((size_t(3) << 20) + 5);
  const std::string path = write("big.bin", bytes);
  const MappedFile mapped(path, MapMode::kMap);
  EXPECT_FALSE(mapped.huge_pages());
  ASSERT_EQ(mapped.size(), bytes.size());
  EXPECT_EQ(std::memcmp(mapped.data(), bytes.data(), bytes.size()), 0);
  for (uint64_t offset : {uint64_t(0), uint64_t(8 + 29), uint64_t(100)}) {
    const MappedFile copy(path, MapMode::kHugePages, offset);
    // Copied exactly when the kernel offers transparent huge pages (this test's 3 MiB is far below
    // half of any test machine's available memory).
    EXPECT_EQ(copy.huge_pages(), transparent_huge_pages_available());
    ASSERT_EQ(copy.size(), bytes.size());
    EXPECT_EQ(std::memcmp(copy.data(), bytes.data(), bytes.size()), 0) << "offset " << offset;
    if (copy.huge_pages()) {
      EXPECT_EQ(reinterpret_cast<uintptr_t>(copy.data() + offset) % 64, 0u) << "offset " << offset;
    }
  }
}

// read() gives the bytes of any range, from the file for a mapping and from the copy for a copy;
// a range outside the file is an error naming it.
TEST_F(MappedFileTest, ReadCopiesAnyRangeOfTheFile) {
  const std::vector<uint8_t> bytes = random_bytes((size_t(3) << 20) + 5);
  const std::string path = write("big.bin", bytes);
  for (MapMode mode : {MapMode::kMap, MapMode::kHugePages}) {
    const MappedFile f(path, mode);
    const size_t ranges[][2] = {{0, bytes.size()}, {1, 4097}, {(size_t(2) << 20) + 3, (size_t(1) << 20) + 2}};
    for (const auto& r : ranges) {
      std::vector<uint8_t> got(r[1], 0);
      f.read(f.data() + r[0], r[1], got.data());
      EXPECT_EQ(std::memcmp(got.data(), bytes.data() + r[0], r[1]), 0) << "at " << r[0] << ", " << r[1] << " bytes";
    }
    std::vector<uint8_t> sink(16);
    EXPECT_THAT([&] { f.read(f.data() + bytes.size() - 8, 16, sink.data()); },
                ::testing::ThrowsMessage<Error>(HasSubstr("big.bin: read outside the file")));
  }
}

TEST_F(MappedFileTest, SmallFilesAndEmptyFilesAreMapped) {
  const std::vector<uint8_t> bytes = random_bytes(1000);
  const MappedFile small(write("small.bin", bytes), MapMode::kHugePages, 8);
  EXPECT_FALSE(small.huge_pages());
  ASSERT_EQ(small.size(), bytes.size());
  EXPECT_EQ(std::memcmp(small.data(), bytes.data(), bytes.size()), 0);
  const MappedFile empty(write("empty.bin", {}), MapMode::kHugePages);
  EXPECT_EQ(empty.size(), 0u);
}

TEST_F(MappedFileTest, MissingFileAndDirectoryAreErrorsNamingThePath) {
  for (MapMode mode : {MapMode::kMap, MapMode::kHugePages}) {
    const std::string missing = (dir_ / "nope.safetensors").string();
    try {
      MappedFile f(missing, mode);
      ADD_FAILURE() << "no error for a missing file";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr(missing));
      EXPECT_THAT(e.what(), HasSubstr("cannot open"));
    }
    try {
      MappedFile f(dir_.string(), mode);
      ADD_FAILURE() << "no error for a directory";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr("not a regular file"));
    }
  }
}

}  // namespace
}  // namespace slotlm
