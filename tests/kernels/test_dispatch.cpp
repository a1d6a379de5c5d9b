// SPDX-License-Identifier: MIT
// The ISA table: names, detection, the override, and the small element-wise table entries.
#include "kernel_test_util.h"
#include "kernels/matmul.h"

namespace slotlm::test {
namespace {

// Element-wise results: exact conversions must be bit-exact; dot/axpy differ from the reference
// only by f32 summation order and FMA contraction: abs 1e-5 + rel 1e-5 on O(1) inputs.
constexpr float kAbsTol = 1e-5f, kRelTol = 1e-5f;

TEST(Dispatch, NamesRoundTripAndScalarIsAlwaysSupported) {
  for (auto i : {kernels::Isa::kScalar, kernels::Isa::kAvx2, kernels::Isa::kAvx512}) {
    kernels::Isa back;
    ASSERT_TRUE(kernels::parse_isa(kernels::isa_name(i), &back));
    EXPECT_EQ(back, i);
  }
  kernels::Isa dummy;
  EXPECT_FALSE(kernels::parse_isa("sse9", &dummy));
  EXPECT_TRUE(kernels::isa_supported(kernels::Isa::kScalar));
  EXPECT_TRUE(kernels::isa_supported(kernels::detect_isa()));
}

TEST(Dispatch, OverrideSwitchesTheActiveTable) {
  for (kernels::Isa isa : supported_isas()) {
    IsaGuard g(isa);
    EXPECT_EQ(kernels::active_isa(), isa);
    EXPECT_EQ(&kernels::kernel_table(), &kernels::kernel_table(isa));
  }
}

class ElementwiseIsa : public ::testing::TestWithParam<kernels::Isa> {};

TEST_P(ElementwiseIsa, ConversionsDotAxpyMatchScalar) {
  const kernels::KernelTable& tab = kernels::kernel_table(GetParam());
  std::mt19937 rng(1);
  for (int64_t n : {0, 1, 5, 8, 15, 16, 17, 33, 64, 100, 1000}) {
    for (int misalign : {0, 1, 3}) {
      std::vector<float> a = random_floats(size_t(n + misalign), rng), b = random_floats(size_t(n + misalign), rng);
      const float* ap = a.data() + misalign;
      const float* bp = b.data() + misalign;
      // f32 -> bf16 rounding and bf16/f16 -> f32 widening: bit-exact with core/dtype.h.
      std::vector<uint16_t> h(size_t(n + misalign));
      tab.f32_to_bf16(ap, n, h.data() + misalign);
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(h[size_t(i + misalign)], f32_to_bf16(ap[i])) << i;
      std::vector<float> f(static_cast<size_t>(n));
      tab.bf16_to_f32(h.data() + misalign, n, f.data());
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(f[size_t(i)], bf16_to_f32(h[size_t(i + misalign)]));
      tab.f16_to_f32(h.data() + misalign, n, f.data());  // any 16-bit pattern is some f16
      for (int64_t i = 0; i < n; ++i) {
        const float want = f16_to_f32(h[size_t(i + misalign)]);
        if (std::isnan(want)) ASSERT_TRUE(std::isnan(f[size_t(i)]));
        else ASSERT_EQ(f[size_t(i)], want);
      }
      double dref = 0;
      for (int64_t i = 0; i < n; ++i) dref += double(ap[i]) * bp[i];
      EXPECT_NEAR(tab.dot_f32(ap, bp, n), dref, kAbsTol + kRelTol * std::sqrt(double(n)) * 4) << n;
      std::vector<float> y(bp, bp + n);
      tab.axpy_f32(0.75f, ap, n, y.data());
      for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(y[size_t(i)], bp[i] + 0.75 * ap[i], kAbsTol + kRelTol * std::fabs(y[size_t(i)]));
      std::vector<float> z(bp, bp + n);
      tab.axpy_bf16(-1.5f, h.data() + misalign, n, z.data());
      for (int64_t i = 0; i < n; ++i)
        ASSERT_NEAR(z[size_t(i)], bp[i] - 1.5 * bf16_to_f32(h[size_t(i + misalign)]), kAbsTol + kRelTol * std::fabs(z[size_t(i)]));
    }
  }
  // NaN and infinity survive the bf16 rounding as core's converter does.
  const float specials[3] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), -0.f};
  uint16_t out[3];
  tab.f32_to_bf16(specials, 3, out);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(out[i], f32_to_bf16(specials[i]));
}

INSTANTIATE_TEST_SUITE_P(Isa, ElementwiseIsa, ::testing::ValuesIn(supported_isas()),
                         [](const auto& info) { return std::string(kernels::isa_name(info.param)); });

}  // namespace
}  // namespace slotlm::test
