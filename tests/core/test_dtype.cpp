// SPDX-License-Identifier: MIT
// dtype conversions: exhaustive f16 round trips and round-to-nearest-even for bf16 and f16.
#include <gtest/gtest.h>

#include <cmath>

#include "core/dtype.h"
#include "core/npy.h"

namespace slotlm {
namespace {

TEST(DType, F16RoundTripsEveryHalf) {
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const float f = f16_to_f32(uint16_t(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(f))));
      continue;
    }
    ASSERT_EQ(f32_to_f16(f), h) << std::hex << h;
  }
}

TEST(DType, F16RoundsToNearestEven) {
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1.0).
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(f32_to_f16(1e6f), 0x7c00);        // overflow -> inf
  EXPECT_EQ(f32_to_f16(1e-9f), 0x0000);       // underflow -> 0
  EXPECT_EQ(f32_to_f16(-6e-8f), 0x8001);      // smallest subnormal, negative
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);    // largest half
}

TEST(DType, Bf16RoundsToNearestEven) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);      // tie -> even
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);  // tie -> even (up)
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
}

TEST(Npy, WriteReadRoundTrip) {
  const std::string path = ::testing::TempDir() + "/slotlm_npy_test.npy";
  std::vector<float> v = {1.5f, -2.0f, 3.25f};
  write_npy_f32(path, {3}, v.data());
  const NpyArray a = read_npy_f32(path);
  EXPECT_EQ(a.shape, std::vector<int64_t>{3});
  EXPECT_EQ(a.data, v);
}

}  // namespace
}  // namespace slotlm
