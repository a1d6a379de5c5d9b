// SPDX-License-Identifier: MIT
// The AMX tile GEMM (kernels/isa/amx_gemm.h) against float64 through kernels::matmul, its weight
// layout against its definition, and its agreement with the oneDNN path. Skipped (with a message)
// on CPUs or kernels without AMX-BF16.
#include <algorithm>
#include <cstring>

#include "kernel_test_util.h"
#include "kernels/isa/amx_gemm.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"

namespace slotlm::test {
namespace {

TEST(AmxGemm, PackedWeightsFollowTheirDefinition) {
  SKIP_WITHOUT_AVX512();
  const int64_t m = 64, k = 160, ldw = k + 32, j0 = 32, k0 = 64, kc = 96;
  std::vector<uint16_t> w(size_t(m * ldw));
  for (size_t i = 0; i < w.size(); ++i) w[i] = uint16_t(i * 2654435761u >> 7);
  std::vector<uint16_t> out(size_t(kc * 32));
  kernels::detail::amx_pack_weights(w.data(), ldw, j0, k0, kc, out.data());
  for (int64_t c = 0; c < kc / 32; ++c)
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t p = 0; p < 16; ++p)
        for (int64_t j = 0; j < 16; ++j)
          for (int64_t e = 0; e < 2; ++e)
            ASSERT_EQ(out[size_t(((c * 2 + h) * 16 + p) * 32 + 2 * j + e)],
                      w[size_t((j0 + 16 * h + j) * ldw + k0 + 32 * c + 2 * p + e)])
                << "c=" << c << " h=" << h << " p=" << p << " j=" << j << " e=" << e;
}

// Row tails (n not a multiple of 32, n < 32), k blocked (kAmxKWhole + 32: 512-column blocks and a
// 32-column one), bias or not, 1-3 terms; the output vector is exactly n x m, so a write past it fails under ASan.
TEST(AmxGemm, MatmulMatchesReferenceAcrossShapesTermsAndBias) {
  SKIP_WITHOUT_AMX();
  kernels::set_gemm_min_work(0);
  std::mt19937 rng(29);
  const int64_t shapes[][3] = {{16, 32, 32}, {33, 96, 96}, {31, 64, 64}, {100, 64, kernels::detail::kAmxKWhole + 32}, {64, 160, 512}};
  for (const auto& s : shapes) {
    const int64_t n = s[0], m = s[1], k = s[2];
    TestWeights w = make_weights(DType::kBF16, size_t(m * k), rng, 0);
    std::vector<float> x = random_floats(size_t(n * k), rng), bias = random_floats(size_t(m), rng);
    for (bool with_bias : {false, true}) {
      const float* b = with_bias ? bias.data() : nullptr;
      std::vector<double> ref = matmul_reference(x, n, w.values, m, k, b);
      for (int terms : {1, 2, 3}) {
        kernels::set_bf16_gemm_terms(terms);
        std::vector<float> y(size_t(n * m), 777.f);
        kernels::matmul(x.data(), n, MatView{w.data(0), DType::kBF16, m, k}, b, y.data());
        EXPECT_LE(nmse(y.data(), ref.data(), y.size()), terms == 1 ? kNmseOneTerm : kNmseTerms)
            << "n=" << n << " m=" << m << " k=" << k << " bias=" << with_bias << " terms=" << terms;
      }
    }
  }
  kernels::set_bf16_gemm_terms(2);
  kernels::set_gemm_min_work(kernels::kGemmMinWork);
}

// matmul_multi splits x once for all weights; the results equal separate matmul calls bit for bit,
// and the AMX results agree with oneDNN's (same terms, different summation order).
TEST(AmxGemm, GroupEqualsSeparateProductsAndAgreesWithOneDnn) {
  SKIP_WITHOUT_AMX();
  kernels::set_gemm_min_work(0);
  std::mt19937 rng(31);
  const int64_t n = 45, k = 128, rows[3] = {96, 32, 32};
  std::vector<float> x = random_floats(size_t(n * k), rng);
  std::vector<TestWeights> ws;
  std::vector<std::vector<float>> bias, want, got, dnnl;
  std::vector<kernels::MatmulOut> outs;
  for (int i = 0; i < 3; ++i) {
    ws.push_back(make_weights(DType::kBF16, size_t(rows[i] * k), rng, 0));
    bias.push_back(random_floats(size_t(rows[i]), rng));
    want.emplace_back(size_t(n * rows[i]));
    got.emplace_back(size_t(n * rows[i]));
    dnnl.emplace_back(size_t(n * rows[i]));
  }
  for (int i = 0; i < 3; ++i) {
    const MatView mv{ws[size_t(i)].data(0), DType::kBF16, rows[i], k};
    kernels::matmul(x.data(), n, mv, bias[size_t(i)].data(), want[size_t(i)].data());
    outs.push_back({mv, bias[size_t(i)].data(), got[size_t(i)].data()});
  }
  kernels::matmul_multi(x.data(), n, outs);
  kernels::set_amx_enabled(false);
  for (int i = 0; i < 3; ++i)
    kernels::matmul(x.data(), n, outs[size_t(i)].w, bias[size_t(i)].data(), dnnl[size_t(i)].data());
  kernels::set_amx_enabled(true);  // it was on: SKIP_WITHOUT_AMX
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(std::memcmp(want[size_t(i)].data(), got[size_t(i)].data(), want[size_t(i)].size() * sizeof(float)), 0)
        << "weight " << i;
    std::vector<double> d(dnnl[size_t(i)].begin(), dnnl[size_t(i)].end());
    EXPECT_LE(nmse(got[size_t(i)].data(), d.data(), d.size()), kNmseTerms) << "weight " << i;
  }
  kernels::set_gemm_min_work(kernels::kGemmMinWork);
}

// swiglu_mlp's fused AMX pass (gate, up, silu * mul and the bf16 split of h in one pass,
// amx_swiglu_bf16) equals, bit for bit, the separate steps it replaces: matmul_multi for gate and
// up, silu_mul, matmul for down (which splits h itself). Row counts with and without a partial row
// block, k of one and of several k blocks (past kAmxKWhole partial sums wait in gate / up), 1-3
// terms, with and without biases. And the result is right: float64 at the terms' precision.
TEST(AmxGemm, FusedSwigluEqualsSeparateSteps) {
  SKIP_WITHOUT_AMX();
  kernels::set_gemm_min_work(0);
  std::mt19937 rng(29);
  struct Case { int64_t n, d, ff; };
  for (const Case c : {Case{5, 64, 96}, Case{32, 64, 160}, Case{70, 96, 64}, Case{40, kernels::detail::kAmxKWhole + 64, 64}}) {
    const TestWeights wg = make_weights(DType::kBF16, size_t(c.ff * c.d), rng, 0);
    const TestWeights wu = make_weights(DType::kBF16, size_t(c.ff * c.d), rng, 0);
    const TestWeights wd = make_weights(DType::kBF16, size_t(c.d * c.ff), rng, 0);
    const MatView mg{wg.data(0), DType::kBF16, c.ff, c.d}, mu{wu.data(0), DType::kBF16, c.ff, c.d},
        md{wd.data(0), DType::kBF16, c.d, c.ff};
    const std::vector<float> x = random_floats(size_t(c.n * c.d), rng), bg = random_floats(size_t(c.ff), rng),
                             bu = random_floats(size_t(c.ff), rng), bd = random_floats(size_t(c.d), rng);
    for (int terms = 1; terms <= 3; ++terms) {
      kernels::set_bf16_gemm_terms(terms);
      for (bool biases : {false, true}) {
        const float* pg = biases ? bg.data() : nullptr;
        const float* pu = biases ? bu.data() : nullptr;
        const float* pd = biases ? bd.data() : nullptr;
        std::vector<float> gate(size_t(c.n * c.ff)), up(gate.size()), y(size_t(c.n * c.d));
        kernels::swiglu_mlp(x.data(), c.n, mg, pg, mu, pu, md, pd, gate.data(), up.data(), y.data());
        std::vector<float> g2(gate.size()), u2(gate.size()), y2(y.size());
        const kernels::MatmulOut gu[2] = {{mg, pg, g2.data()}, {mu, pu, u2.data()}};
        kernels::matmul_multi(x.data(), c.n, gu);
        kernels::silu_mul(g2.data(), u2.data(), int64_t(g2.size()), g2.data());
        kernels::matmul(g2.data(), c.n, md, pd, y2.data());
        const std::string what = "n=" + std::to_string(c.n) + " d=" + std::to_string(c.d) +
                                 " terms=" + std::to_string(terms) + " biases=" + std::to_string(biases);
        EXPECT_EQ(std::memcmp(y.data(), y2.data(), y.size() * sizeof(float)), 0) << what;
        // Prefill-sized with one k block: the fused pass ran and left gate untouched.
        if (c.n >= kernels::kGemmMinRows && c.d <= kernels::detail::kAmxKWhole) {
          EXPECT_TRUE(std::all_of(gate.begin(), gate.end(), [](float v) { return v == 0.f; })) << what;
        }
        // float64: h from the exact gate / up, then down.
        std::vector<double> h(gate.size()), ref(y.size());
        const std::vector<double> g64 = matmul_reference(x, c.n, wg.values, c.ff, c.d, pg);
        const std::vector<double> u64 = matmul_reference(x, c.n, wu.values, c.ff, c.d, pu);
        for (size_t i = 0; i < h.size(); ++i) h[i] = g64[i] / (1.0 + std::exp(-g64[i])) * u64[i];
        for (int64_t i = 0; i < c.n; ++i)
          for (int64_t j = 0; j < c.d; ++j) {
            double acc = pd ? pd[j] : 0.0;
            for (int64_t f = 0; f < c.ff; ++f) acc += h[size_t(i * c.ff + f)] * wd.values[size_t(j * c.ff + f)];
            ref[size_t(i * c.d + j)] = acc;
          }
        // 1 term rounds x and h to bf16 once each: twice the single-product bound.
        EXPECT_LE(nmse(y.data(), ref.data(), ref.size()), terms == 1 ? 2 * kNmseOneTerm : kNmseTerms) << what;
      }
    }
  }
  kernels::set_bf16_gemm_terms(2);
  kernels::set_gemm_min_work(kernels::kGemmMinWork);
}

}  // namespace
}  // namespace slotlm::test
