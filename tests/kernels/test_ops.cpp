// SPDX-License-Identifier: MIT
// Element-wise and row-wise ops: KernelTable::silu_mul of every ISA against the scalar reference
// (sizes with tails, misaligned starts, large |x|), and the threaded rmsnorm / rope_apply_rows
// against plain per-row loops.
#include <algorithm>
#include <cstring>
#include <limits>

#include "kernel_test_util.h"
#include "kernels/ops.h"

namespace slotlm::test {
namespace {

// SIMD silu_mul vs the scalar table: exp by a degree-7 polynomial (~1-2 ulp), then g*e, 1+e, one
// division and the product with `up`, each rounded once, against libm expf and three roundings in
// the reference. A sweep over every 16th f32 bit pattern finds at most 4 ulp (AVX2 and AVX-512);
// 8 leaves margin, and any real bug (wrong branch, lost lane) errs by far more.
constexpr int64_t kSiluMaxUlp = 8;
// Where the SIMD tables flush exp(-|g|) to 0 (g < -87.3) the reference still gives results down
// to ~1e-45; below this magnitude both are "zero" for any f32 sum of O(1) activations.
constexpr float kSiluAbsFloor = 1e-30f;
// rmsnorm vs a float64 reference: f32 sum of squares over d <= 1000 terms and three roundings per
// output, so relative error per element is ~1e-6 at worst.
constexpr double kRmsRel = 1e-5;

int64_t ulp_distance(float a, float b) {
  auto key = [](float f) {
    int32_t i;
    std::memcpy(&i, &f, 4);
    return i < 0 ? int64_t(std::numeric_limits<int32_t>::min()) - i : int64_t(i);  // monotone in f
  };
  return std::abs(key(a) - key(b));
}

// Gates mixing ordinary activations with the extremes: |g| around the exp clamp (87.3) and the
// f32 exp overflow (88.7), huge values, zeros and subnormals.
std::vector<float> silu_gates(size_t n, std::mt19937& rng) {
  std::vector<float> g = random_floats(n, rng, 4.f);
  const float special[] = {0.f,    -0.f,   1e-40f, -1e-40f, 87.3f,  -87.3f, 87.4f,
                           -87.4f, 88.5f,  -88.5f, 88.8f,   -88.8f, 100.f,  -100.f,
                           1e10f,  -1e10f, 3e38f,  -3e38f,  20.f,   -20.f};
  std::uniform_real_distribution<float> wide(-120.f, 120.f);
  for (size_t i = 0; i < n; ++i) {
    if (i % 7 == 3) g[i] = special[(i / 7) % std::size(special)];
    if (i % 7 == 5) g[i] = wide(rng);
  }
  return g;
}

class SiluIsa : public ::testing::TestWithParam<kernels::Isa> {};

TEST_P(SiluIsa, MatchesScalarReferenceAcrossSizesTailsAndMisalignment) {
  const kernels::KernelTable& tab = kernels::kernel_table(GetParam());
  const kernels::KernelTable& ref = kernels::kernel_table(kernels::Isa::kScalar);
  std::mt19937 rng(11);
  for (int64_t n : {1, 7, 8, 15, 16, 17, 31, 33, 1000, 70000}) {
    for (int misalign : {0, 1}) {
      std::vector<float> gs = silu_gates(size_t(n + 1), rng),
                         us = random_floats(size_t(n + 1), rng);
      const float* g = gs.data() + misalign;
      const float* u = us.data() + misalign;
      std::vector<float> out(size_t(n + 1), 777.f), want(static_cast<size_t>(n));
      tab.silu_mul(g, u, n, out.data());
      ref.silu_mul(g, u, n, want.data());
      for (int64_t i = 0; i < n; ++i) {
        const float a = out[size_t(i)], b = want[size_t(i)];
        // Only g * u itself may overflow (g = 3e38, |u| > 1), and then in both.
        ASSERT_EQ(std::isfinite(a), std::isfinite(b)) << "g=" << g[i] << " u=" << u[i];
        if (std::fabs(a) < kSiluAbsFloor && std::fabs(b) < kSiluAbsFloor) continue;
        ASSERT_LE(ulp_distance(a, b), kSiluMaxUlp)
            << kernels::isa_name(GetParam()) << " n=" << n << " i=" << i << " g=" << g[i]
            << " u=" << u[i] << " got " << a << " want " << b;
      }
      EXPECT_EQ(out[size_t(n)], 777.f) << "wrote past the end, n=" << n;
    }
  }
}

TEST_P(SiluIsa, ExtremesAndAliasing) {
  const kernels::KernelTable& tab = kernels::kernel_table(GetParam());
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> g = {100.f, -100.f, 3e38f, -3e38f, 0.f, nan, 1.f, -1.f, 2.f, -2.f, 5.f};
  std::vector<float> u(g.size(), 1.f);
  std::vector<float> out(g.size());
  tab.silu_mul(g.data(), u.data(), int64_t(g.size()), out.data());
  EXPECT_EQ(out[0], 100.f);
  EXPECT_EQ(out[1], 0.f);
  EXPECT_TRUE(std::signbit(out[1]));
  EXPECT_EQ(out[2], 3e38f);
  EXPECT_EQ(out[3], 0.f);
  EXPECT_EQ(out[4], 0.f);
  EXPECT_TRUE(std::isnan(out[5]));
  // out aliasing gate, then up: same values as the separate output.
  std::vector<float> a = g, b = u;
  tab.silu_mul(a.data(), b.data(), int64_t(g.size()), a.data());
  std::vector<float> c = g, e = u;
  tab.silu_mul(c.data(), e.data(), int64_t(g.size()), e.data());
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(out[i])) continue;
    EXPECT_EQ(a[i], out[i]) << i;
    EXPECT_EQ(e[i], out[i]) << i;
  }
}

// kernels::silu_mul (threaded in chunks for large n) equals one call of the active table.
TEST_P(SiluIsa, ThreadedOpEqualsOneTableCall) {
  IsaGuard guard(GetParam());
  std::mt19937 rng(5);
  for (int64_t n : {17, 70000, (1 << 15) + 9}) {
    std::vector<float> g = silu_gates(size_t(n), rng), u = random_floats(size_t(n), rng);
    std::vector<float> want(static_cast<size_t>(n));
    kernels::kernel_table(GetParam()).silu_mul(g.data(), u.data(), n, want.data());
    kernels::silu_mul(g.data(), u.data(), n, g.data());  // in place, as the model calls it
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(g[size_t(i)], want[size_t(i)]) << "n=" << n << " i=" << i;
  }
}

// exp_shifted / max_value (softmax numerators of SLOT's cached rows) on every ISA against double
// std::exp: the SIMD polynomial is within a few ulp, so 1e-6 relative per element (8 ulp) holds;
// arguments below -87.3 may flush to 0 (their true values are < 1e-37).
constexpr double kExpRel = 1e-6;
constexpr double kExpFlush = 1e-37;
// Their f32 sum: up to ~10^4 additions per SIMD lane, rounding error ~sqrt(10^4) * 6e-8 typical,
// n * 6e-8 worst; 1e-4 relative bounds both at these sizes.
constexpr double kExpSumRel = 1e-4;

TEST_P(SiluIsa, ExpShiftedAndMaxMatchReference) {
  IsaGuard guard(GetParam());
  std::mt19937 rng(5);
  for (int64_t n : {1, 15, 16, 17, 1000, 151936}) {
    std::vector<float> x = random_floats(size_t(n), rng, 30.f);
    if (n > 20) x[7] = -200.f, x[9] = 85.f;
    const float mx = kernels::max_value(x.data(), n);
    EXPECT_EQ(mx, *std::max_element(x.begin(), x.end())) << "n=" << n;
    std::vector<float> out(static_cast<size_t>(n));
    const float sum = kernels::exp_shifted(x.data(), n, mx, out.data());
    double want_sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double want = std::exp(double(x[size_t(i)] - mx));  // the f32 difference, as the kernel takes it
      want_sum += want;
      if (want < kExpFlush) {
        EXPECT_LE(out[size_t(i)], kExpFlush) << "n=" << n << " i=" << i;
      } else {
        EXPECT_NEAR(out[size_t(i)], want, kExpRel * want) << "n=" << n << " i=" << i;
      }
    }
    EXPECT_NEAR(sum, want_sum, kExpSumRel * want_sum) << "n=" << n;
    kernels::exp_shifted(x.data(), n, mx, x.data());  // in place gives the same values
    EXPECT_EQ(std::memcmp(x.data(), out.data(), out.size() * sizeof(float)), 0);
  }
}

// argmax: the first of the largest, at every position relative to the SIMD lanes and tails,
// among negatives and -inf, and past a NaN (skipped, as the running comparison did).
TEST_P(SiluIsa, ArgmaxIsTheFirstLargest) {
  IsaGuard guard(GetParam());
  std::mt19937 rng(9);
  for (int64_t n : {1, 2, 15, 16, 17, 33, 1000, 151936}) {
    for (int64_t at : {int64_t(0), n / 2, n - 1}) {
      std::vector<float> x = random_floats(size_t(n), rng, 30.f);
      for (float& v : x) v = -100.f - std::abs(v);  // all negative, below the largest
      x[size_t(at)] = 5.f;
      if (at + 3 < n) x[size_t(at + 3)] = 5.f;  // a tie after it: the first one counts
      EXPECT_EQ(kernels::argmax(x.data(), n), at) << "n=" << n;
      if (n > 2 && at > 0) {
        x[0] = -std::numeric_limits<float>::infinity();
        x[size_t(at - 1)] = std::numeric_limits<float>::quiet_NaN();
        EXPECT_EQ(kernels::argmax(x.data(), n), at) << "n=" << n << " with a NaN before the largest";
      }
      if (at + 16 < n) {  // a NaN in the largest one's SIMD lane, after it
        x[size_t(at + 16)] = std::numeric_limits<float>::quiet_NaN();
        EXPECT_EQ(kernels::argmax(x.data(), n), at) << "n=" << n << " with a NaN after the largest";
      }
    }
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> lead = {nan, 1.f, 3.f, 2.f};
  EXPECT_EQ(kernels::argmax(lead.data(), 4), 2);
}

INSTANTIATE_TEST_SUITE_P(Isa, SiluIsa, ::testing::ValuesIn(supported_isas()), [](const auto& info) {
  return std::string(kernels::isa_name(info.param));
});

// Large n * d runs rows in parallel; every row must equal rmsnorm of that row alone (bit-equal),
// and all rows must match a float64 reference.
TEST(Rmsnorm, ThreadedRowsEqualPerRowCallsAndReference) {
  std::mt19937 rng(3);
  for (int64_t d : {1, 17, 896}) {
    for (int64_t n : {1, 3, 64}) {
      std::vector<float> x = random_floats(size_t(n * d), rng, 3.f),
                         w = random_floats(size_t(d), rng);
      const float eps = 1e-6f;
      std::vector<float> out(size_t(n * d)), rows(size_t(n * d));
      kernels::rmsnorm(x.data(), w.data(), eps, n, d, out.data());
      for (int64_t i = 0; i < n; ++i)
        kernels::rmsnorm(x.data() + i * d, w.data(), eps, 1, d, rows.data() + i * d);
      for (int64_t i = 0; i < n * d; ++i)
        ASSERT_EQ(out[size_t(i)], rows[size_t(i)]) << "n=" << n << " d=" << d;
      for (int64_t i = 0; i < n; ++i) {
        double ss = 0;
        for (int64_t j = 0; j < d; ++j) ss += double(x[size_t(i * d + j)]) * x[size_t(i * d + j)];
        const double scale = 1.0 / std::sqrt(ss / double(d) + eps);
        for (int64_t j = 0; j < d; ++j) {
          const double want = double(w[size_t(j)]) * x[size_t(i * d + j)] * scale;
          ASSERT_NEAR(out[size_t(i * d + j)], want, kRmsRel * std::fabs(want) + 1e-30)
              << "d=" << d << " j=" << j;
        }
      }
      kernels::rmsnorm(x.data(), w.data(), eps, n, d, x.data());  // in place
      for (int64_t i = 0; i < n * d; ++i) ASSERT_EQ(x[size_t(i)], out[size_t(i)]);
    }
  }
}

// Batched RoPE over strided token rows equals rope_apply per token (bit-equal) and leaves the
// padding between rows alone; 512 tokens of 14 x 64 run the threaded path.
TEST(Rope, ApplyRowsEqualsPerTokenLoop) {
  std::mt19937 rng(9);
  for (int64_t n_tok : {1, 5, 512}) {
    for (int64_t n_head : {2, 14}) {
      const int64_t d_head = 64, half = d_head / 2, ld = n_head * d_head + 3;
      std::vector<double> inv_freq(static_cast<size_t>(half));
      for (int64_t i = 0; i < half; ++i)
        inv_freq[size_t(i)] = std::pow(1e6, -2.0 * double(i) / double(d_head));
      std::vector<float> cs(size_t(n_tok * half)), sn(size_t(n_tok * half));
      for (int64_t t = 0; t < n_tok; ++t)
        kernels::rope_angles(inv_freq.data(), half, t + 7, cs.data() + t * half,
                             sn.data() + t * half);
      std::vector<float> x = random_floats(size_t(n_tok * ld), rng), want = x;
      for (int64_t t = 0; t < n_tok; ++t)
        kernels::rope_apply(want.data() + t * ld, n_head, d_head, cs.data() + t * half,
                            sn.data() + t * half);
      kernels::rope_apply_rows(x.data(), n_tok, ld, n_head, d_head, cs.data(), sn.data());
      for (size_t i = 0; i < x.size(); ++i)
        ASSERT_EQ(x[i], want[i]) << "n_tok=" << n_tok << " i=" << i;
    }
  }
}

}  // namespace
}  // namespace slotlm::test
