// SPDX-License-Identifier: MIT
// The AMX decode products (kernels/isa/amx_gemv.h): the packed activations against their definition,
// kernels::matmul's decode-sized rows against float64, and batch invariance (a row gets the same
// bits alone or in any batch, and in matmul_multi as in matmul). Skipped (with a message) on CPUs or
// kernels without AMX-BF16.
#include <cstring>

#include "core/aligned.h"
#include "kernel_test_util.h"
#include "kernels/bf16_split.h"
#include "kernels/isa/amx_gemv.h"
#include "kernels/matmul.h"

namespace slotlm::test {
namespace {

// Bounds kNmseTerms / kNmseOneTerm (kernel_test_util.h). The FMA gemv (f32 exact) stays under
// 1e-12 on these shapes, so an NMSE above kNmseFmaAtMost shows the 1-term tiles ran.
constexpr double kNmseFmaAtMost = 1e-10;

// Restores the default precision when a test ends, whatever it set.
struct TermsGuard {
  ~TermsGuard() { kernels::set_bf16_gemm_terms(2); }
};

TEST(AmxGemv, PackedActivationsFollowTheirDefinition) {
  SKIP_WITHOUT_AVX512();
  std::mt19937 rng(41);
  const int64_t k = 96;
  for (int terms : {1, 2, 3}) {
    for (int64_t n : {1, 5, 8, 16}) {
      const std::vector<float> x = random_floats(size_t(n * k), rng);
      // The terms as the prefill products split them: [terms][n][k].
      const uint16_t* split = kernels::detail::split_bf16_terms(x.data(), n, k, terms, n);
      const std::vector<uint16_t> want(split, split + terms * n * k);
      const int64_t nb = kernels::detail::amx_gemv_col_tiles(n, terms);
      AlignedVector<uint16_t> out(size_t(kernels::detail::amx_gemv_packed_size(n, terms, k)), 0xdead);
      kernels::detail::amx_gemv_pack(x.data(), n, terms, k, out.data());
      for (int64_t c = 0; c < k / 32; ++c)
        for (int64_t b = 0; b < nb; ++b)
          for (int64_t p = 0; p < 16; ++p)
            for (int64_t i = 0; i < 16; ++i)
              for (int64_t e = 0; e < 2; ++e) {
                const int64_t q = 16 * b + i;
                const uint16_t expect =
                    q < terms * n ? want[size_t(((q % terms) * n + q / terms) * k + 32 * c + 2 * p + e)] : 0;
                ASSERT_EQ(out[size_t(((c * nb + b) * 16 + p) * 32 + 2 * i + e)], expect)
                    << "terms=" << terms << " n=" << n << " c=" << c << " b=" << b << " p=" << p << " i=" << i;
              }
    }
  }
}

// Row counts with a tail the FMA gemv finishes (70 = 4 x 16 + 6), k of one chunk and of many, 1..40
// activation rows (past 16 they run in groups), 1-3 terms, with and without bias. y is exactly
// n x m, so a write past it fails under ASan.
TEST(AmxGemv, DecodeRowsMatchReferenceAcrossShapesTermsAndBias) {
  SKIP_WITHOUT_AMX();
  TermsGuard restore;
  std::mt19937 rng(43);
  const int64_t shapes[][2] = {{16, 32}, {48, 96}, {70, 64}, {130, 2048}};
  for (const auto& s : shapes) {
    const int64_t m = s[0], k = s[1];
    TestWeights w = make_weights(DType::kBF16, size_t(m * k), rng, 0);
    const std::vector<float> bias = random_floats(size_t(m), rng);
    for (int64_t n : {1, 2, 5, 8, 9, 16, 17, 40}) {
      const std::vector<float> x = random_floats(size_t(n * k), rng);
      for (bool with_bias : {false, true}) {
        const float* b = with_bias ? bias.data() : nullptr;
        const std::vector<double> ref = matmul_reference(x, n, w.values, m, k, b);
        for (int terms : {1, 2, 3}) {
          kernels::set_bf16_gemm_terms(terms);
          std::vector<float> y(size_t(n * m));
          kernels::matmul(x.data(), n, MatView{w.data(0), DType::kBF16, m, k}, b, y.data());
          const double e = nmse(y.data(), ref.data(), y.size());
          EXPECT_LE(e, terms == 1 ? kNmseOneTerm : kNmseTerms)
              << "n=" << n << " m=" << m << " k=" << k << " bias=" << with_bias << " terms=" << terms;
          if (terms == 1) {
            EXPECT_GT(e, kNmseFmaAtMost) << "the 1-term tiles did not run: n=" << n << " m=" << m;
          }
        }
      }
    }
  }
}

// Batched decode gives each sequence the bits it gets alone: its terms have their own tile columns.
TEST(AmxGemv, EachActivationRowGetsTheSameBitsWhateverTheBatch) {
  SKIP_WITHOUT_AMX();
  TermsGuard restore;
  std::mt19937 rng(47);
  const int64_t m = 80, k = 160, n = 40;
  TestWeights w = make_weights(DType::kBF16, size_t(m * k), rng, 0);
  const std::vector<float> x = random_floats(size_t(n * k), rng), bias = random_floats(size_t(m), rng);
  const MatView mv{w.data(0), DType::kBF16, m, k};
  for (int terms : {1, 2, 3}) {
    kernels::set_bf16_gemm_terms(terms);
    std::vector<float> all(size_t(n * m)), eight(size_t(8 * m)), alone(static_cast<size_t>(m));
    kernels::matmul(x.data(), n, mv, bias.data(), all.data());
    kernels::matmul(x.data() + 3 * k, 8, mv, bias.data(), eight.data());
    for (int64_t i = 0; i < n; ++i) {
      kernels::matmul(x.data() + i * k, 1, mv, bias.data(), alone.data());
      EXPECT_EQ(std::memcmp(alone.data(), all.data() + i * m, size_t(m) * sizeof(float)), 0)
          << "terms=" << terms << " row " << i << " of " << n;
      if (i >= 3 && i < 11) {
        EXPECT_EQ(std::memcmp(alone.data(), eight.data() + (i - 3) * m, size_t(m) * sizeof(float)), 0)
            << "terms=" << terms << " row " << i << " of 8";
      }
    }
  }
}

// matmul_multi (one parallel region, work chunks of ~256 KB that span weights: k = 2048 gives 64-row
// chunks) equals separate matmuls bit for bit, with weights whose rows are not multiples of 16 or 32.
TEST(AmxGemv, MatmulMultiEqualsSeparateMatmuls) {
  SKIP_WITHOUT_AMX();
  std::mt19937 rng(53);
  const int64_t k = 2048, rows[3] = {70, 9, 130};
  for (int64_t n : {1, 3, 8}) {
    const std::string what = "n=" + std::to_string(n);
    const std::array<double, 3> e = multi_vs_separate(DType::kBF16, n, k, rows, rng, what);
    for (int i = 0; i < 3; ++i) EXPECT_LE(e[size_t(i)], kNmseTerms) << what << " weight " << i;
  }
}

}  // namespace
}  // namespace slotlm::test
