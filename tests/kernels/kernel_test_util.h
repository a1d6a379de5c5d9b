// SPDX-License-Identifier: MIT
// Helpers for kernel tests: random inputs, NMSE, and running a test body once per ISA that this
// machine supports (forced through the dispatch override).
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "kernels/dispatch.h"
#include "kernels/isa/dot_gemv.h"  // bf16_dot_available (SKIP_WITHOUT_BF16_DOT)
#include "kernels/matmul.h"  // amx_enabled (SKIP_WITHOUT_AMX)

namespace slotlm::test {

inline std::vector<float> random_floats(size_t n, std::mt19937& rng, float scale = 1.f) {
  std::normal_distribution<float> dist(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Normalised mean squared error sum (a - b)^2 / sum b^2 (llama.cpp's test-backend-ops measure).
inline double nmse(const float* a, const double* ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    num += (double(a[i]) - ref[i]) * (double(a[i]) - ref[i]);
    den += ref[i] * ref[i];
  }
  return den > 0 ? num / den : num;
}

inline std::vector<kernels::Isa> supported_isas() {
  std::vector<kernels::Isa> out;
  for (auto i : {kernels::Isa::kScalar, kernels::Isa::kAvx2, kernels::Isa::kAvx512})
    if (kernels::isa_supported(i)) out.push_back(i);
  return out;
}

// Forces an ISA for the lifetime of the guard, then restores the previous one.
class IsaGuard {
 public:
  explicit IsaGuard(kernels::Isa isa) : prev_(kernels::active_isa()) { kernels::set_isa(isa); }
  ~IsaGuard() { kernels::set_isa(prev_); }

 private:
  kernels::Isa prev_;
};

// Weights stored in `t`, plus the exact f32 values they represent.
struct TestWeights {
  std::vector<uint8_t> bytes;  // `[rows, cols]` of dtype t, plus one element of slack in front
  std::vector<float> values;   // the same weights widened to f32
  const void* data(size_t offset) const { return bytes.data() + offset; }
};

inline TestWeights make_weights(DType t, size_t n, std::mt19937& rng, size_t misalign_elems) {
  TestWeights w;
  std::vector<float> f = random_floats(n, rng, 0.5f);
  const size_t es = dtype_size(t), off = misalign_elems * es;
  w.bytes.resize(off + n * es);
  w.values.resize(n);
  for (size_t i = 0; i < n; ++i) {
    uint8_t* p = w.bytes.data() + off + i * es;
    if (t == DType::kF32) {
      std::memcpy(p, &f[i], 4);
    } else if (t == DType::kBF16) {
      const uint16_t b = f32_to_bf16(f[i]);
      std::memcpy(p, &b, 2);
    } else {  // f16 via an exactly representable value: 10-bit mantissa, small exponent range
      const float q = std::ldexp(std::round(std::ldexp(f[i], 10)), -10);
      const uint32_t sign = std::signbit(q) ? 0x8000u : 0u;
      uint16_t h = 0;
      const float a = std::fabs(q);
      if (a != 0.f) {
        int e;
        const float mant = std::frexp(a, &e);  // a = mant * 2^e, mant in [0.5, 1)
        const uint32_t m = uint32_t(std::lround(std::ldexp(mant, 11))) & 0x3ffu;
        h = uint16_t(sign | uint32_t(e - 1 + 15) << 10 | m);
      } else {
        h = uint16_t(sign);
      }
      std::memcpy(p, &h, 2);
    }
    w.values[i] = load_as_f32(w.bytes.data() + off, t, i);
  }
  return w;
}

// y = x W^T (+ bias) in float64: x `[n, k]`, W `[m, k]` (the exact f32 values), y `[n, m]`.
inline std::vector<double> matmul_reference(const std::vector<float>& x, int64_t n, const std::vector<float>& w,
                                            int64_t m, int64_t k, const float* bias) {
  std::vector<double> y(size_t(n * m));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t r = 0; r < m; ++r) {
      double acc = bias ? bias[r] : 0.0;
      for (int64_t j = 0; j < k; ++j) acc += double(x[size_t(i * k + j)]) * w[size_t(r * k + j)];
      y[size_t(i * m + r)] = acc;
    }
  return y;
}

// x as the sum of its bf16 terms packed by dot_gemv_pack (out[(j * terms + t) * k + i]).
inline std::vector<float> sum_of_terms(const std::vector<uint16_t>& xp, int64_t n, int terms, int64_t k) {
  std::vector<float> x(size_t(n * k), 0.f);
  for (int64_t j = 0; j < n; ++j)
    for (int t = 0; t < terms; ++t)
      for (int64_t i = 0; i < k; ++i) x[size_t(j * k + i)] += bf16_to_f32(xp[size_t((j * terms + t) * k + i)]);
  return x;
}

// matmul_multi of x `[n, k]` (random, drawn first) by three random weights of dtype `t` with
// rows[i] rows (weight 1 without bias) against one matmul per weight: expects the same bits,
// labelled `what`, and returns each weight's NMSE against float64 for the caller's bound.
inline std::array<double, 3> multi_vs_separate(DType t, int64_t n, int64_t k, const int64_t (&rows)[3],
                                               std::mt19937& rng, const std::string& what) {
  const std::vector<float> x = random_floats(size_t(n * k), rng);
  std::vector<TestWeights> ws;
  std::vector<std::vector<float>> bias, want, got;
  std::vector<kernels::MatmulOut> outs;
  for (int i = 0; i < 3; ++i) {
    ws.push_back(make_weights(t, size_t(rows[i] * k), rng, 0));
    bias.push_back(random_floats(size_t(rows[i]), rng));
    want.emplace_back(size_t(n * rows[i]));
    got.emplace_back(size_t(n * rows[i]), 0.f);
  }
  for (int i = 0; i < 3; ++i) {
    const MatView mv{ws[size_t(i)].data(0), t, rows[i], k};
    const float* b = i == 1 ? nullptr : bias[size_t(i)].data();
    kernels::matmul(x.data(), n, mv, b, want[size_t(i)].data());
    outs.push_back({mv, b, got[size_t(i)].data()});
  }
  kernels::matmul_multi(x.data(), n, outs);
  std::array<double, 3> e{};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(std::memcmp(want[size_t(i)].data(), got[size_t(i)].data(), want[size_t(i)].size() * sizeof(float)), 0)
        << what << " weight " << i;
    const std::vector<double> ref = matmul_reference(x, n, ws[size_t(i)].values, rows[i], k, outs[size_t(i)].bias);
    e[size_t(i)] = nmse(got[size_t(i)].data(), ref.data(), ref.size());
  }
  return e;
}

// Bounds for bf16 products with the activations split into bf16 terms (AMX prefill and decode):
// f32 accumulation with 2-3 terms (the activations exact to ~2^-17 or better) gives NMSE ~1e-12,
// so 1e-10; 1 term rounds x to bf16 (2^-9 relative): NMSE ~1.3e-6, so 1e-5.
constexpr double kNmseTerms = 1e-10;
constexpr double kNmseOneTerm = 1e-5;

// The AMX tests need AMX-BF16 on the CPU, the OS's permission for the tile state and the AVX-512
// dispatch; elsewhere they skip, saying so.
#define SKIP_WITHOUT_AMX()                                                                  \
  if (!kernels::amx_enabled()) GTEST_SKIP() << "no AMX-BF16 here (CPU, OS permission or ISA)"

// The AMX layout's packing, and SLOT's W^T r over that layout, run on AVX-512 alone.
#define SKIP_WITHOUT_AVX512() \
  if (kernels::active_isa() != kernels::Isa::kAvx512) GTEST_SKIP() << "no AVX-512 here (CPU or ISA)"

// The AVX512-BF16 tests (isa/dot_gemv.h, isa/blocked_gemv.h) need it on the CPU and the AVX-512
// dispatch; the dispatch tests also need AMX to be off (AMX takes those products where it runs).
#define SKIP_WITHOUT_BF16_DOT()                                                                   \
  if (!kernels::detail::bf16_dot_available() || kernels::active_isa() != kernels::Isa::kAvx512) \
  GTEST_SKIP() << "no AVX512-BF16 here (CPU, OS or ISA)"
#define SKIP_WITHOUT_DOT_DISPATCH() \
  SKIP_WITHOUT_BF16_DOT();          \
  if (kernels::amx_enabled()) GTEST_SKIP() << "AMX takes the decode products on this machine"

// Sets the precision (bf16 terms) for a test and restores the default (2) when it ends.
struct Terms {
  explicit Terms(int terms) { kernels::set_bf16_gemm_terms(terms); }
  ~Terms() { kernels::set_bf16_gemm_terms(2); }
};

}  // namespace slotlm::test
