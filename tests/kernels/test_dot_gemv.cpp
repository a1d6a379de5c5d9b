// SPDX-License-Identifier: MIT
// The AVX512-BF16 dot-product decode products (kernels/isa/dot_gemv.h): the packed activations
// against the prefill's bf16 terms, the kernel and kernels::matmul's decode-sized rows against
// float64, batch invariance (a row gets the same bits alone or in any batch, and in matmul_multi as
// in matmul), and the switch back to the FMA gemv. Skipped (with a message) on CPUs without
// AVX512-BF16, and on AMX machines for the dispatch tests (AMX takes those products there).
#include <cstring>

#include "core/aligned.h"
#include "kernel_test_util.h"
#include "kernels/bf16_split.h"
#include "kernels/isa/dot_gemv.h"
#include "kernels/matmul.h"

namespace slotlm::test {
namespace {

// Bounds kNmseTerms / kNmseOneTerm (kernel_test_util.h). The FMA gemv (f32 exact) stays under
// 1e-12 on these shapes, so an NMSE above kNmseFmaAtMost shows the 1-term dot products ran.
constexpr double kNmseFmaAtMost = 1e-10;

TEST(DotGemv, PackedActivationsAreThePrefillTerms) {
  SKIP_WITHOUT_BF16_DOT();
  std::mt19937 rng(61);
  const int64_t k = 96;
  for (int terms : {1, 2, 3}) {
    for (int64_t n : {1, 3, 8}) {
      const std::vector<float> x = random_floats(size_t(n * k), rng);
      const uint16_t* split = kernels::detail::split_bf16_terms(x.data(), n, k, terms, n);  // [terms][n][k]
      std::vector<uint16_t> out(size_t(kernels::detail::dot_gemv_packed_size(n, terms, k)), 0xdead);
      kernels::detail::dot_gemv_pack(x.data(), n, terms, k, out.data());
      for (int64_t j = 0; j < n; ++j)
        for (int t = 0; t < terms; ++t)
          for (int64_t i = 0; i < k; ++i)
            ASSERT_EQ(out[size_t((j * terms + t) * k + i)], split[size_t((t * n + j) * k + i)])
                << "terms=" << terms << " n=" << n << " row " << j << " term " << t << " col " << i;
    }
  }
}

// The kernel itself for 1-3 terms, rows with a tail of the 4-row tile (70 = 4 x 17 + 2), 1..9 rows
// of x (tiles of 4 and the 3/2/1 remainders), a row stride past k, with and without bias, against
// float64 products of the weights with the terms it was given: only f32 accumulation separates
// them (kNmseTerms), whatever the number of terms. y is exactly n x m, so a write past it fails
// under ASan.
TEST(DotGemv, KernelMatchesReferenceAcrossShapesTermsAndBias) {
  SKIP_WITHOUT_BF16_DOT();
  std::mt19937 rng(67);
  const int64_t shapes[][2] = {{4, 32}, {70, 64}, {33, 896}};
  for (const auto& s : shapes) {
    const int64_t m = s[0], k = s[1], ldw = k + 32;
    TestWeights w = make_weights(DType::kBF16, size_t(m * ldw), rng, 0);
    std::vector<float> wv(size_t(m * k));  // the [m, k] part the kernel reads
    for (int64_t r = 0; r < m; ++r)
      for (int64_t i = 0; i < k; ++i) wv[size_t(r * k + i)] = w.values[size_t(r * ldw + i)];
    const std::vector<float> bias = random_floats(size_t(m), rng);
    for (int64_t n : {1, 2, 3, 4, 5, 9}) {
      const std::vector<float> x = random_floats(size_t(n * k), rng);
      for (bool with_bias : {false, true}) {
        const float* b = with_bias ? bias.data() : nullptr;
        for (int terms : {1, 2, 3}) {
          std::vector<uint16_t> xp(size_t(kernels::detail::dot_gemv_packed_size(n, terms, k)));
          kernels::detail::dot_gemv_pack(x.data(), n, terms, k, xp.data());
          const std::vector<double> ref = matmul_reference(sum_of_terms(xp, n, terms, k), n, wv, m, k, b);
          std::vector<float> y(size_t(n * m));
          kernels::detail::dot_gemv_bf16(xp.data(), n, terms, static_cast<const uint16_t*>(w.data(0)), ldw, m, k, b,
                                         y.data(), m);
          EXPECT_LE(nmse(y.data(), ref.data(), y.size()), kNmseTerms)
              << "n=" << n << " m=" << m << " k=" << k << " bias=" << with_bias << " terms=" << terms;
        }
      }
    }
  }
}

// Each row of x gets the bits it gets alone, in batches of every size and at every offset, for each
// number of terms (the kernel), and through matmul's decode path (1 term, where it dispatches).
TEST(DotGemv, EachActivationRowGetsTheSameBitsWhateverTheBatch) {
  SKIP_WITHOUT_BF16_DOT();
  std::mt19937 rng(71);
  const int64_t m = 78, k = 160, n = 15;
  TestWeights w = make_weights(DType::kBF16, size_t(m * k), rng, 0);
  const auto* wp = static_cast<const uint16_t*>(w.data(0));
  const std::vector<float> x = random_floats(size_t(n * k), rng), bias = random_floats(size_t(m), rng);
  for (int terms : {1, 2, 3}) {
    std::vector<uint16_t> xp(size_t(kernels::detail::dot_gemv_packed_size(n, terms, k)));
    kernels::detail::dot_gemv_pack(x.data(), n, terms, k, xp.data());
    std::vector<float> alone(size_t(n * m)), batch(size_t(n * m));
    for (int64_t i = 0; i < n; ++i)
      kernels::detail::dot_gemv_bf16(xp.data() + i * terms * k, 1, terms, wp, k, m, k, bias.data(),
                                     alone.data() + i * m, m);
    for (int64_t b = 2; b <= n; ++b)
      for (int64_t i0 = 0; i0 + b <= n; i0 += b) {
        kernels::detail::dot_gemv_bf16(xp.data() + i0 * terms * k, b, terms, wp, k, m, k, bias.data(),
                                       batch.data(), m);
        EXPECT_EQ(std::memcmp(alone.data() + i0 * m, batch.data(), size_t(b * m) * sizeof(float)), 0)
            << "terms=" << terms << " rows " << i0 << ".." << i0 + b - 1;
      }
  }
  SKIP_WITHOUT_DOT_DISPATCH();
  Terms one(1);
  ASSERT_TRUE(kernels::bf16_dot_enabled());
  const MatView mv{w.data(0), DType::kBF16, m, k};
  std::vector<float> all(size_t(n * m)), alone(static_cast<size_t>(m));
  kernels::matmul(x.data(), n, mv, bias.data(), all.data());
  for (int64_t i = 0; i < n; ++i) {
    kernels::matmul(x.data() + i * k, 1, mv, bias.data(), alone.data());
    EXPECT_EQ(std::memcmp(alone.data(), all.data() + i * m, size_t(m) * sizeof(float)), 0) << "matmul row " << i;
  }
}

// matmul's decode rows take the dot products at 1 term (NMSE of bf16-rounded x, above the FMA
// gemv's) and the FMA gemv at 2 and 3 terms and when switched off (f32 exact), for weights whose
// k is a multiple of 32; other k stay on the FMA gemv at every precision.
TEST(DotGemv, MatmulTakesTheDotProductsAtOneTermOnly) {
  SKIP_WITHOUT_DOT_DISPATCH();
  std::mt19937 rng(73);
  const int64_t m = 70;
  for (int64_t k : {int64_t(96), int64_t(80)}) {
    TestWeights w = make_weights(DType::kBF16, size_t(m * k), rng, 0);
    const MatView mv{w.data(0), DType::kBF16, m, k};
    for (int64_t n : {1, 8}) {
      const std::vector<float> x = random_floats(size_t(n * k), rng);
      const std::vector<double> ref = matmul_reference(x, n, w.values, m, k, nullptr);
      for (int terms : {1, 2, 3})
        for (bool on : {true, false}) {
          Terms t(terms);
          kernels::set_bf16_dot_enabled(on);
          std::vector<float> y(size_t(n * m));
          kernels::matmul(x.data(), n, mv, nullptr, y.data());
          kernels::set_bf16_dot_enabled(true);
          const double e = nmse(y.data(), ref.data(), y.size());
          const bool dot = on && terms == 1 && k % 32 == 0;
          if (dot) {
            EXPECT_LE(e, kNmseOneTerm) << "k=" << k << " n=" << n;
            EXPECT_GT(e, kNmseFmaAtMost) << "the dot products did not run: k=" << k << " n=" << n;
          } else {
            EXPECT_LE(e, kNmseFmaAtMost) << "k=" << k << " n=" << n << " terms=" << terms << " on=" << on;
          }
        }
    }
  }
}

// matmul_multi (one parallel region, work chunks of ~256 KB that span weights: k = 2048 gives
// 64-row chunks) equals separate matmuls bit for bit, with row counts that are not multiples of 4.
TEST(DotGemv, MatmulMultiEqualsSeparateMatmuls) {
  SKIP_WITHOUT_DOT_DISPATCH();
  Terms one(1);
  std::mt19937 rng(79);
  const int64_t k = 2048, rows[3] = {70, 9, 130};
  for (int64_t n : {1, 3, 8}) {
    const std::string what = "n=" + std::to_string(n);
    const std::array<double, 3> e = multi_vs_separate(DType::kBF16, n, k, rows, rng, what);
    for (int i = 0; i < 3; ++i) {
      EXPECT_LE(e[size_t(i)], kNmseOneTerm) << what << " weight " << i;
      EXPECT_GT(e[size_t(i)], kNmseFmaAtMost) << "the dot products did not run: " << what << " weight " << i;
    }
  }
}

}  // namespace
}  // namespace slotlm::test
