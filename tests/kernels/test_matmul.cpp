// SPDX-License-Identifier: MIT
// matmul / gemv / matvec_t against a float64 reference, per ISA, dtype, size, tail and misalignment.
#include <cstring>

#include "kernel_test_util.h"
#include "kernels/gemm_dnnl.h"
#include "kernels/matmul.h"

namespace slotlm::test {
namespace {

using kernels::GemmBackend;

// f32 accumulation of up to a few thousand O(1) products in a different order than the reference:
// relative error ~1e-6 per output, so NMSE ~1e-12; 1e-10 leaves margin and still catches any
// wrong element (a single wrong output among 100 gives NMSE ~1e-2).
constexpr double kNmseF32 = 1e-10;
// oneDNN path with bf16 weights and 1 bf16 term rounds x to bf16 (relative error <= 2^-9 per element, uniform),
// so NMSE ~ 2^-18 / 3 ~ 1.3e-6 for random inputs; 1e-5 with margin.
constexpr double kNmseBf16Activations = 1e-5;
// Per-output bound for the small-size sweep, where NMSE over a handful of outputs is dominated by
// cancellation: |y - ref| <= kRelToMagnitude * sum_j |x_j w_j| (+|bias|). f32 summation of k <= 100
// terms errs by at most ~k * 2^-24 ~ 6e-6 of that magnitude in the worst case; a wrong element errs
// by O(1).
constexpr double kRelToMagnitude = 1e-5;

class GemvIsa : public ::testing::TestWithParam<kernels::Isa> {};

// Every table entry on sizes around the SIMD widths (8, 16) and tiles (4 rows, 3-4 tokens),
// with weights and activations starting one element past an aligned address.
TEST_P(GemvIsa, TableMatchesReferenceAcrossSizesTailsAndMisalignment) {
  const kernels::KernelTable& tab = kernels::kernel_table(GetParam());
  std::mt19937 rng(42);
  for (DType t : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (int64_t k : {1, 7, 8, 15, 16, 17, 31, 33, 64, 100}) {
      for (int64_t m : {1, 3, 4, 5, 9}) {
        for (int64_t n : {1, 2, 3, 4, 5, 7, 9}) {
          for (int misalign : {0, 1}) {
            for (bool with_bias : {false, true}) {
              TestWeights w = make_weights(t, size_t(m * k), rng, size_t(misalign));
              std::vector<float> xs = random_floats(size_t(n * k + 1), rng);
              const float* x = xs.data() + misalign;
              std::vector<float> bias = random_floats(size_t(m), rng);
              const float* b = with_bias ? bias.data() : nullptr;
              const int64_t ldy = m + 2;  // a strided output must leave the gaps alone
              std::vector<float> y(size_t(n * ldy), 777.f);
              const void* wp = w.data(size_t(misalign) * dtype_size(t));
              if (t == DType::kF32) tab.gemv_f32(x, n, static_cast<const float*>(wp), m, k, k, b, y.data(), ldy);
              if (t == DType::kBF16) tab.gemv_bf16(x, n, static_cast<const uint16_t*>(wp), m, k, k, b, y.data(), ldy);
              if (t == DType::kF16) tab.gemv_f16(x, n, static_cast<const uint16_t*>(wp), m, k, k, b, y.data(), ldy);
              std::vector<float> xv(x, x + n * k);
              std::vector<double> ref = matmul_reference(xv, n, w.values, m, k, b);
              double worst = 0;
              for (int64_t i = 0; i < n; ++i) {
                for (int64_t r = 0; r < m; ++r) {
                  double mag = b ? std::fabs(b[r]) : 0.0;
                  for (int64_t j = 0; j < k; ++j) mag += std::fabs(double(x[i * k + j]) * w.values[size_t(r * k + j)]);
                  const double err = std::fabs(y[size_t(i * ldy + r)] - ref[size_t(i * m + r)]);
                  worst = std::max(worst, err / std::max(mag, 1e-30));
                }
                EXPECT_EQ(y[size_t(i * ldy + m)], 777.f);
                EXPECT_EQ(y[size_t(i * ldy + m + 1)], 777.f);
              }
              ASSERT_LE(worst, kRelToMagnitude)
                  << kernels::isa_name(GetParam()) << " " << dtype_name(t) << " n=" << n << " m=" << m
                  << " k=" << k << " misalign=" << misalign << " bias=" << with_bias;
            }
          }
        }
      }
    }
  }
}

TEST_P(GemvIsa, MatmulAndMatvecTMatchReference) {
  IsaGuard guard(GetParam());
  kernels::set_gemm_min_work(0);  // oneDNN on these small shapes too
  std::mt19937 rng(7);
  for (DType t : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (GemmBackend be : {GemmBackend::kOwn, GemmBackend::kAuto}) {
      kernels::set_gemm_backend(be);
      for (int64_t n : {1, 3, 15, 16, 33}) {
       for (int terms : {1, 2, 3}) {
        kernels::set_bf16_gemm_terms(terms);
        const int64_t m = 67, k = 129;  // odd tails; big enough to run the threaded path
        TestWeights w = make_weights(t, size_t(m * k), rng, 0);
        std::vector<float> x = random_floats(size_t(n * k), rng), bias = random_floats(size_t(m), rng);
        std::vector<float> y(size_t(n * m));
        const MatView mv{w.data(0), t, m, k};
        kernels::matmul(x.data(), n, mv, bias.data(), y.data());
        std::vector<double> ref = matmul_reference(x, n, w.values, m, k, bias.data());
        const bool rounds_x = be == GemmBackend::kAuto && t == DType::kBF16 && n >= kernels::kGemmMinRows && terms == 1;
        EXPECT_LE(nmse(y.data(), ref.data(), y.size()), rounds_x ? kNmseBf16Activations : kNmseF32)
            << dtype_name(t) << " n=" << n << " backend=" << int(be) << " terms=" << terms;
       }
      }
      kernels::set_bf16_gemm_terms(2);
      // matvec_t: g = W^T r.
      const int64_t m = 301, k = 77;
      TestWeights w = make_weights(t, size_t(m * k), rng, 0);
      std::vector<float> r = random_floats(size_t(m), rng), g(static_cast<size_t>(k));
      r[5] = 0.f;  // zero entries are skipped
      kernels::matvec_t(r.data(), MatView{w.data(0), t, m, k}, g.data());
      std::vector<double> ref(size_t(k), 0.0);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < k; ++j) ref[size_t(j)] += double(r[size_t(i)]) * w.values[size_t(i * k + j)];
      EXPECT_LE(nmse(g.data(), ref.data(), g.size()), kNmseF32) << dtype_name(t);
    }
  }
  kernels::set_gemm_backend(GemmBackend::kAuto);
  kernels::set_gemm_min_work(kernels::kGemmMinWork);
}

// The oneDNN f32 path keeps f32 maths: it must meet the f32 bound at prefill sizes too.
TEST(Matmul, LargeF32BatchIsExactToF32) {
  std::mt19937 rng(3);
  const int64_t n = 64, m = 96, k = 896;
  TestWeights w = make_weights(DType::kF32, size_t(m * k), rng, 0);
  std::vector<float> x = random_floats(size_t(n * k), rng), y(size_t(n * m));
  kernels::matmul(x.data(), n, MatView{w.data(0), DType::kF32, m, k}, nullptr, y.data());
  std::vector<double> ref = matmul_reference(x, n, w.values, m, k, nullptr);
  EXPECT_LE(nmse(y.data(), ref.data(), y.size()), kNmseF32);
}

// KernelTable::gemv_t_* adds rows in order with one FMA each: bit-equal to the same table's axpy
// called row by row (its contract), for row counts around the 4-row pass, column tails, a row
// stride wider than k, misaligned weights and zero coefficients.
TEST_P(GemvIsa, GemvTransposedEqualsRowByRowAxpy) {
  const kernels::KernelTable& tab = kernels::kernel_table(GetParam());
  std::mt19937 rng(13);
  for (DType t : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (int64_t rows : {0, 1, 3, 4, 5, 8, 11}) {
      for (int64_t k : {1, 15, 16, 17, 77, 896}) {
        const int64_t ldw = k + 3;
        TestWeights w = make_weights(t, size_t(rows * ldw + 1), rng, 1);
        std::vector<float> x = random_floats(size_t(rows + 1), rng);
        if (rows > 2) x[2] = 0.f;
        std::vector<float> want = random_floats(size_t(k), rng), got = want;
        const size_t es = dtype_size(t);
        for (int64_t r = 0; r < rows; ++r) {
          const void* row = w.data(es * size_t(1 + r * ldw));
          if (t == DType::kF32) tab.axpy_f32(x[size_t(r)], static_cast<const float*>(row), k, want.data());
          if (t == DType::kBF16) tab.axpy_bf16(x[size_t(r)], static_cast<const uint16_t*>(row), k, want.data());
          if (t == DType::kF16) tab.axpy_f16(x[size_t(r)], static_cast<const uint16_t*>(row), k, want.data());
        }
        const void* w0 = w.data(es);
        if (t == DType::kF32) tab.gemv_t_f32(x.data(), static_cast<const float*>(w0), rows, k, ldw, got.data());
        if (t == DType::kBF16) tab.gemv_t_bf16(x.data(), static_cast<const uint16_t*>(w0), rows, k, ldw, got.data());
        if (t == DType::kF16) tab.gemv_t_f16(x.data(), static_cast<const uint16_t*>(w0), rows, k, ldw, got.data());
        EXPECT_EQ(std::memcmp(want.data(), got.data(), want.size() * sizeof(float)), 0)
            << kernels::isa_name(GetParam()) << " " << dtype_name(t) << " rows=" << rows << " k=" << k;
      }
    }
  }
}

// A row's result must not depend on how many activation rows share the weight pass: batched
// decode gives each sequence the same bits as decoding it alone (the tiles of 4 rows reduce their
// sums with one transposing reduction, the others one at a time, in the same order).
TEST_P(GemvIsa, EachActivationRowGetsTheSameBitsWhateverTheBatch) {
  const kernels::KernelTable& tab = kernels::kernel_table(GetParam());
  std::mt19937 rng(23);
  for (DType t : {DType::kF32, DType::kBF16, DType::kF16}) {
    for (int64_t k : {17, 64, 131}) {
      const int64_t m = 9, n = 9;
      TestWeights w = make_weights(t, size_t(m * k), rng, 0);
      const std::vector<float> x = random_floats(size_t(n * k), rng), bias = random_floats(size_t(m), rng);
      auto run = [&](const float* xr, int64_t rows, float* y) {
        if (t == DType::kF32) tab.gemv_f32(xr, rows, static_cast<const float*>(w.data(0)), m, k, k, bias.data(), y, m);
        if (t == DType::kBF16) tab.gemv_bf16(xr, rows, static_cast<const uint16_t*>(w.data(0)), m, k, k, bias.data(), y, m);
        if (t == DType::kF16) tab.gemv_f16(xr, rows, static_cast<const uint16_t*>(w.data(0)), m, k, k, bias.data(), y, m);
      };
      std::vector<float> batched(size_t(n * m)), alone(static_cast<size_t>(m));
      run(x.data(), n, batched.data());
      for (int64_t i = 0; i < n; ++i) {
        run(x.data() + i * k, 1, alone.data());
        EXPECT_EQ(std::memcmp(alone.data(), batched.data() + i * m, size_t(m) * sizeof(float)), 0)
            << kernels::isa_name(GetParam()) << " " << dtype_name(t) << " k=" << k << " row " << i;
      }
    }
  }
}

// matmul_multi (one parallel region over the rows of several weights) gives the same bits as one
// matmul per weight: each output row is the same dot product, whatever thread or tile computes it.
// k = 2053 makes the gemv's work chunks (~256 KB of weights) 28-60 rows, so a weight spans several
// chunks and one chunk spans two weights; both are also checked against the float64 reference.
TEST_P(GemvIsa, MatmulMultiEqualsSeparateMatmuls) {
  IsaGuard guard(GetParam());
  std::mt19937 rng(11);
  for (int64_t k : {133, 2053}) {
  for (DType t : {DType::kF32, DType::kBF16}) {
    for (int64_t n : {1, 3, 17}) {
      const int64_t rows[3] = {70, 9, 130};
      const std::string what = std::string(dtype_name(t)) + " n=" + std::to_string(n) + " k=" + std::to_string(k);
      const std::array<double, 3> e = multi_vs_separate(t, n, k, rows, rng, what);
      for (int i = 0; i < 3; ++i) EXPECT_LE(e[size_t(i)], kNmseF32) << what << " weight " << i;
    }
  }
  }
}

// An LM-head-wide output (>= 16384 features, gemm_dnnl.cpp's kWideOut) takes oneDNN's transposed
// chunks plus a tiled transpose: same bounds as the other oneDNN products, a chunk tail included.
TEST(Matmul, WideBf16OutputMatchesReference) {
  kernels::set_gemm_min_work(0);
  std::mt19937 rng(19);
  const int64_t n = 17, m = 16384 + 4096 + 37, k = 40;
  TestWeights w = make_weights(DType::kBF16, size_t(m * k), rng, 0);
  std::vector<float> x = random_floats(size_t(n * k), rng), bias = random_floats(size_t(m), rng);
  std::vector<double> ref = matmul_reference(x, n, w.values, m, k, bias.data());
  for (int terms : {1, 2, 3}) {
    kernels::set_bf16_gemm_terms(terms);
    std::vector<float> y(size_t(n * m));
    kernels::matmul(x.data(), n, MatView{w.data(0), DType::kBF16, m, k}, bias.data(), y.data());
    EXPECT_LE(nmse(y.data(), ref.data(), y.size()), terms == 1 ? kNmseBf16Activations : kNmseF32) << "terms=" << terms;
  }
  kernels::set_bf16_gemm_terms(2);
  kernels::set_gemm_min_work(kernels::kGemmMinWork);
}

// Every new row count needs new oneDNN primitives; the cache keeps the kDnnlMaxPrimitives most
// recently used, and a product whose primitive was evicted is created again and still right.
TEST(Matmul, PrimitiveCacheStaysBoundedAndEvictedShapesStillMatch) {
  kernels::set_gemm_min_work(0);
  std::mt19937 rng(23);
  const int64_t m = 48, k = 32, n_max = 16 + int64_t(kernels::detail::kDnnlMaxPrimitives) + 8;
  TestWeights w = make_weights(DType::kBF16, size_t(m * k), rng, 0);
  std::vector<float> x = random_floats(size_t(n_max * k), rng), y(size_t(n_max * m));
  const MatView mv{w.data(0), DType::kBF16, m, k};
  for (int64_t n = 16; n <= n_max; ++n) {  // 2 terms: two primitives per row count
    kernels::matmul(x.data(), n, mv, nullptr, y.data());
    ASSERT_LE(kernels::detail::dnnl_cached_primitives(), kernels::detail::kDnnlMaxPrimitives) << "n=" << n;
  }
  for (int64_t n : {int64_t(16), n_max}) {  // 16: evicted long ago; n_max: still cached
    std::fill(y.begin(), y.end(), 0.f);
    kernels::matmul(x.data(), n, mv, nullptr, y.data());
    std::vector<float> xs(x.begin(), x.begin() + n * k);
    std::vector<double> ref = matmul_reference(xs, n, w.values, m, k, nullptr);
    EXPECT_LE(nmse(y.data(), ref.data(), size_t(n * m)), kNmseF32) << "n=" << n;
  }
  kernels::set_gemm_min_work(kernels::kGemmMinWork);
}

// swiglu_mlp against a float64 SwiGLU on both of its paths: gemv (decode-sized n) and oneDNN's
// transposed layout (prefill-sized n, forced on small shapes), plus the fallback when gate/up have
// biases. With 1 bf16 term x and h are each rounded to bf16 once, and the product silu(g) * u
// passes both of g's and u's errors on: a float64 simulation of exactly these roundings and shapes
// (2000 random draws each) gave NMSE median 8.6e-6 for n = 1, 5 and 24, 99.9th percentile 3.5e-5
// for n = 1 (64 outputs) and 1.1e-5 for n = 24, maximum 4.2e-5; so kNmseMlpOneTerm = 1e-4 (a wrong
// element still gives ~1e-2). With 2+ terms each stage errs ~2^-17 relative: NMSE ~1e-10, so 1e-9.
constexpr double kNmseMlpOneTerm = 1e-4;
constexpr double kNmseMlpTerms = 1e-9;

TEST(Matmul, SwigluMlpMatchesReference) {
  kernels::set_gemm_min_work(0);
  std::mt19937 rng(17);
  const int64_t d = 64, ff = 160;
  // AMX off: oneDNN's transposed MLP; on (where available): the plain layout on AMX tiles.
  std::vector<bool> amx_modes{false};
  const bool amx_before = kernels::amx_enabled();  // restored at the end (SLOTLM_AMX=0 keeps it off)
  if (amx_before) amx_modes.push_back(true);
  for (bool amx : amx_modes) {
  kernels::set_amx_enabled(amx);
  for (int64_t n : {1, 5, 24}) {
    for (int terms : {1, 2, 3}) {
      kernels::set_bf16_gemm_terms(terms);
      for (int biases = 0; biases < 3; ++biases) {  // none, down only, all (gate/up biases: fallback)
        TestWeights wg = make_weights(DType::kBF16, size_t(ff * d), rng, 0);
        TestWeights wu = make_weights(DType::kBF16, size_t(ff * d), rng, 0);
        TestWeights wd = make_weights(DType::kBF16, size_t(d * ff), rng, 0);
        std::vector<float> x = random_floats(size_t(n * d), rng), bg = random_floats(size_t(ff), rng),
                           bu = random_floats(size_t(ff), rng), bd = random_floats(size_t(d), rng);
        const float* pbg = biases == 2 ? bg.data() : nullptr;
        const float* pbu = biases == 2 ? bu.data() : nullptr;
        const float* pbd = biases >= 1 ? bd.data() : nullptr;
        std::vector<float> gate(size_t(n * ff)), up(size_t(n * ff)), y(size_t(n * d));
        kernels::swiglu_mlp(x.data(), n, MatView{wg.data(0), DType::kBF16, ff, d}, pbg,
                            MatView{wu.data(0), DType::kBF16, ff, d}, pbu, MatView{wd.data(0), DType::kBF16, d, ff},
                            pbd, gate.data(), up.data(), y.data());
        std::vector<double> ref(size_t(n * d)), h(static_cast<size_t>(ff));
        for (int64_t i = 0; i < n; ++i) {
          for (int64_t f = 0; f < ff; ++f) {
            double g = pbg ? pbg[f] : 0.0, u = pbu ? pbu[f] : 0.0;
            for (int64_t j = 0; j < d; ++j) {
              g += double(x[size_t(i * d + j)]) * wg.values[size_t(f * d + j)];
              u += double(x[size_t(i * d + j)]) * wu.values[size_t(f * d + j)];
            }
            h[size_t(f)] = g / (1.0 + std::exp(-g)) * u;
          }
          for (int64_t j = 0; j < d; ++j) {
            double acc = pbd ? pbd[j] : 0.0;
            for (int64_t f = 0; f < ff; ++f) acc += h[size_t(f)] * wd.values[size_t(j * ff + f)];
            ref[size_t(i * d + j)] = acc;
          }
        }
        // bf16 terms of the activations on oneDNN / AMX prefill, and on AMX decode and the AVX512-BF16
        // dot products' (1 term, without AMX; d and ff are multiples of 32); the FMA gemv (decode
        // otherwise) is f32 exact.
        const bool on_terms = n >= kernels::kGemmMinRows || amx || kernels::bf16_dot_enabled();
        const bool rounds = on_terms && terms == 1;
        EXPECT_LE(nmse(y.data(), ref.data(), y.size()),
                  !rounds ? (on_terms ? kNmseMlpTerms : kNmseF32) : kNmseMlpOneTerm)
            << "n=" << n << " terms=" << terms << " biases=" << biases << " amx=" << amx;
      }
    }
  }
  }
  kernels::set_amx_enabled(amx_before);
  kernels::set_bf16_gemm_terms(2);
  kernels::set_gemm_min_work(kernels::kGemmMinWork);
}

INSTANTIATE_TEST_SUITE_P(Isa, GemvIsa, ::testing::ValuesIn(supported_isas()),
                         [](const auto& info) { return std::string(kernels::isa_name(info.param)); });

}  // namespace
}  // namespace slotlm::test
