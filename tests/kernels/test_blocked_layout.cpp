// SPDX-License-Identifier: MIT
// Weights in oneDNN's blocked layout (kernels/isa/blocked_gemv.h): the packing against its definition
// and against oneDNN's own reorder into that layout, the decode kernel against float64 and for batch
// invariance, and kernels::matmul / matmul_multi / swiglu_mlp reading the layout on the decode and
// the prefill (oneDNN) paths at every precision. The kernel and dispatch tests skip (with a
// message) on CPUs without AVX512-BF16; the packing tests run everywhere.
#include <cmath>
#include <cstring>
#include <limits>
#include <oneapi/dnnl/dnnl.hpp>

#include "core/aligned.h"
#include "core/error.h"
#include "kernel_test_util.h"
#include "kernels/isa/blocked_gemv.h"
#include "kernels/isa/dot_gemv.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"

namespace slotlm::test {
namespace {

using kernels::detail::kBlockRows;

// W^T r in f32 with exact products: NMSE against float64 ~1e-14 for these sizes; 1e-12 leaves room.
constexpr double kNmseExactSums = 1e-12;

// A random bf16 weight `[m, k]` and the same weight in the blocked layout.
struct Blocked {
  TestWeights w;
  AlignedVector<uint16_t> blocked;
  MatView plain() const { return MatView{w.data(0), DType::kBF16, rows, cols}; }
  int64_t rows, cols;
  Blocked(int64_t m, int64_t k, std::mt19937& rng)
      : w(make_weights(DType::kBF16, size_t(m * k), rng, 0)), blocked(size_t(m * k)), rows(m), cols(k) {
    kernels::pack_blocked(plain(), blocked.data());
  }
};

// The layout's definition (blocked_gemv.h), element by element, on shapes of one and several
// blocks of rows and of k.
TEST(BlockedLayout, PackingFollowsItsDefinition) {
  std::mt19937 rng(101);
  const int64_t shapes[][2] = {{64, 32}, {128, 96}, {192, 160}};
  for (const auto& s : shapes) {
    const int64_t m = s[0], k = s[1];
    const Blocked b(m, k, rng);
    const auto* w = static_cast<const uint16_t*>(b.w.data(0));
    for (int64_t r = 0; r < m; ++r)
      for (int64_t i = 0; i < k; ++i)
        ASSERT_EQ(b.blocked[size_t((r / 64) * 64 * k + (i / 2) * 128 + (r % 64) * 2 + i % 2)], w[r * k + i])
            << m << " x " << k << " at " << r << ", " << i;
  }
}

// An independent check: oneDNN's reorder of W^T (`ba`) into `BA16a64b2a`, the layout its AVX512-BF16
// GEMM asks for, gives the same bytes.
TEST(BlockedLayout, PackingEqualsOneDnnsReorder) {
  std::mt19937 rng(103);
  const int64_t shapes[][2] = {{64, 32}, {128, 96}, {896, 160}};
  dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream st(eng);
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  for (const auto& s : shapes) {
    const int64_t m = s[0], k = s[1];
    Blocked b(m, k, rng);
    dnnl::memory src({{k, m}, dt::bf16, tag::ba}, eng, const_cast<void*>(b.w.data(0)));
    dnnl::memory dst({{k, m}, dt::bf16, tag::BA16a64b2a}, eng);
    ASSERT_EQ(dst.get_desc().get_size(), size_t(m * k) * 2) << m << " x " << k;
    dnnl::reorder(src, dst).execute(st, src, dst);
    st.wait();
    EXPECT_EQ(std::memcmp(dst.get_data_handle(), b.blocked.data(), size_t(m * k) * 2), 0) << m << " x " << k;
  }
}

TEST(BlockedLayout, ShapesThatDoNotFitAreRefused) {
  EXPECT_TRUE(kernels::blocked_fit(MatView{nullptr, DType::kBF16, 128, 96}));
  EXPECT_FALSE(kernels::blocked_fit(MatView{nullptr, DType::kBF16, 160, 96}));  // rows: not whole blocks
  EXPECT_FALSE(kernels::blocked_fit(MatView{nullptr, DType::kBF16, 128, 80}));  // k: not whole pairs of 16
  EXPECT_FALSE(kernels::blocked_fit(MatView{nullptr, DType::kF32, 128, 96}));
  std::vector<uint16_t> out(160 * 96);
  std::vector<uint16_t> w(160 * 96);
  EXPECT_THROW(kernels::pack_blocked(MatView{w.data(), DType::kBF16, 160, 96}, out.data()), slotlm::Error);
}

// The kernel for 1-3 terms, 1..13 rows of x (every walk from 1 to 8 rows; a second walk from
// cache after 8, with the look-ahead into the next block on), walks of 4 rows as well, all or part
// of the row blocks, with and without bias, against float64
// products of the weights with the terms it was given (only f32 accumulation separates them:
// kNmseTerms); outputs outside [r0, r1) untouched.
TEST(BlockedLayout, KernelMatchesReferenceAcrossShapesTermsAndBias) {
  SKIP_WITHOUT_BF16_DOT();
  std::mt19937 rng(107);
  const int64_t shapes[][2] = {{64, 32}, {192, 96}, {128, 896}};
  for (const auto& s : shapes) {
    const int64_t m = s[0], k = s[1];
    const Blocked b(m, k, rng);
    const std::vector<float> bias = random_floats(size_t(m), rng);
    for (int64_t n : {1, 2, 3, 4, 5, 6, 7, 8, 9, 13}) {
      const std::vector<float> x = random_floats(size_t(n * k), rng);
      for (bool with_bias : {false, true})
        for (int terms : {1, 2, 3}) {
          const float* bp = with_bias ? bias.data() : nullptr;
          std::vector<uint16_t> xp(size_t(kernels::detail::dot_gemv_packed_size(n, terms, k)));
          kernels::detail::dot_gemv_pack(x.data(), n, terms, k, xp.data());
          const std::vector<double> ref = matmul_reference(sum_of_terms(xp, n, terms, k), n, b.w.values, m, k, bp);
          for (const auto& [r0, r1] : {std::pair<int64_t, int64_t>{0, m}, {m - kBlockRows, m}, {0, kBlockRows}})
            for (int64_t walk : {kernels::detail::kMaxWalkRows, int64_t(4)}) {
              std::vector<float> y(size_t(n * m), -7.f);
              // rows_ahead = m: the later walks over a block prefetch the next block, also past r1.
              kernels::detail::blocked_gemv_bf16(xp.data(), n, terms, b.blocked.data(), k, r0, r1, {m, walk}, bp,
                                                 y.data(), m);
              std::vector<float> got;
              std::vector<double> want;
              for (int64_t j = 0; j < n; ++j)
                for (int64_t r = 0; r < m; ++r) {
                  if (r < r0 || r >= r1) {
                    ASSERT_EQ(y[size_t(j * m + r)], -7.f) << "row " << r << " outside [" << r0 << ", " << r1 << ")";
                    continue;
                  }
                  got.push_back(y[size_t(j * m + r)]);
                  want.push_back(ref[size_t(j * m + r)]);
                }
              EXPECT_LE(nmse(got.data(), want.data(), got.size()), kNmseTerms)
                  << "n=" << n << " m=" << m << " k=" << k << " bias=" << with_bias << " terms=" << terms
                  << " rows " << r0 << ".." << r1 << " walk=" << walk;
            }
        }
    }
  }
}

// Each row of x gets the bits it gets alone, in batches of every size and at every offset, for each
// number of terms: in the kernel, and through matmul's decode path.
TEST(BlockedLayout, EachActivationRowGetsTheSameBitsWhateverTheBatch) {
  SKIP_WITHOUT_BF16_DOT();
  std::mt19937 rng(109);
  const int64_t m = 128, k = 160, n = 13;
  const Blocked b(m, k, rng);
  const std::vector<float> x = random_floats(size_t(n * k), rng), bias = random_floats(size_t(m), rng);
  for (int terms : {1, 2, 3}) {
    std::vector<uint16_t> xp(size_t(kernels::detail::dot_gemv_packed_size(n, terms, k)));
    kernels::detail::dot_gemv_pack(x.data(), n, terms, k, xp.data());
    std::vector<float> alone(size_t(n * m)), batch(size_t(n * m));
    for (int64_t i = 0; i < n; ++i)
      kernels::detail::blocked_gemv_bf16(xp.data() + i * terms * k, 1, terms, b.blocked.data(), k, 0, m, {m},
                                         bias.data(), alone.data() + i * m, m);
    for (int64_t walk : {kernels::detail::kMaxWalkRows, int64_t(4)})
      for (int64_t bs = 2; bs <= n; ++bs)
        for (int64_t i0 = 0; i0 + bs <= n; i0 += bs) {
          kernels::detail::blocked_gemv_bf16(xp.data() + i0 * terms * k, bs, terms, b.blocked.data(), k, 0, m,
                                             {m, walk}, bias.data(), batch.data(), m);
          EXPECT_EQ(std::memcmp(alone.data() + i0 * m, batch.data(), size_t(bs * m) * sizeof(float)), 0)
              << "terms=" << terms << " rows " << i0 << ".." << i0 + bs - 1 << " walk=" << walk;
        }
  }
  SKIP_WITHOUT_DOT_DISPATCH();
  MatView mv = b.plain();
  mv.blocked = b.blocked.data();
  for (int terms : {1, 2}) {
    Terms t(terms);
    std::vector<float> all(size_t(n * m)), alone(static_cast<size_t>(m));
    kernels::matmul(x.data(), n, mv, bias.data(), all.data());
    for (int64_t i = 0; i < n; ++i) {
      kernels::matmul(x.data() + i * k, 1, mv, bias.data(), alone.data());
      EXPECT_EQ(std::memcmp(alone.data(), all.data() + i * m, size_t(m) * sizeof(float)), 0)
          << "terms=" << terms << " matmul row " << i;
    }
  }
}

// With the layout set and the plain rows poisoned (NaN), every matmul path reads the layout: decode
// rows (the dot products, at 1, 2 and 3 terms) and prefill rows (oneDNN on the blocked weights),
// each against float64 within its precision's bound; set_blocked_enabled(false) makes them read the
// plain rows again (NaN out), which shows the bound was met by the layout.
TEST(BlockedLayout, EveryMatmulPathReadsTheLayout) {
  SKIP_WITHOUT_DOT_DISPATCH();
  std::mt19937 rng(113);
  const int64_t m = 192, k = 96;
  const Blocked b(m, k, rng);
  const std::vector<uint16_t> poison(size_t(m * k), 0x7fc0);  // bf16 NaN
  const MatView mv{poison.data(), DType::kBF16, m, k, nullptr, b.blocked.data()};
  const std::vector<float> bias = random_floats(size_t(m), rng);
  kernels::set_gemm_min_work(0);
  for (int64_t n : {1, 8, 40}) {  // 40 >= kGemmMinRows: oneDNN
    const std::vector<float> x = random_floats(size_t(n * k), rng);
    const std::vector<double> ref = matmul_reference(x, n, b.w.values, m, k, bias.data());
    for (int terms : {1, 2, 3}) {
      Terms t(terms);
      std::vector<float> y(size_t(n * m));
      kernels::matmul(x.data(), n, mv, bias.data(), y.data());
      EXPECT_LE(nmse(y.data(), ref.data(), y.size()), terms == 1 ? kNmseOneTerm : kNmseTerms)
          << "n=" << n << " terms=" << terms;
      kernels::set_blocked_enabled(false);
      kernels::matmul(x.data(), n, mv, bias.data(), y.data());
      kernels::set_blocked_enabled(true);
      EXPECT_TRUE(std::isnan(y[0])) << "n=" << n << " terms=" << terms << ": the plain rows were not read";
    }
  }
  kernels::set_gemm_min_work(kernels::kGemmMinWork);
}

// matmul_multi with blocked and plain weights in one group (decode: one parallel region whose chunks
// span the weights; prefill: one split of x for oneDNN) gives each weight matmul's bits.
TEST(BlockedLayout, GroupsMixBlockedAndPlainWeights) {
  SKIP_WITHOUT_DOT_DISPATCH();
  std::mt19937 rng(127);
  const int64_t k = 2048;
  const Blocked a(128, k, rng), c(64, k, rng);
  TestWeights plain = make_weights(DType::kBF16, size_t(70 * k), rng, 0);
  MatView wa = a.plain(), wc = c.plain();
  wa.blocked = a.blocked.data();
  wc.blocked = c.blocked.data();
  const MatView ws[3] = {wa, MatView{plain.data(0), DType::kBF16, 70, k}, wc};
  kernels::set_gemm_min_work(0);
  for (int terms : {1, 2})
    for (int64_t n : {1, 3, 8, 20}) {
      Terms t(terms);
      const std::vector<float> x = random_floats(size_t(n * k), rng);
      std::vector<std::vector<float>> want, got;
      std::vector<kernels::MatmulOut> outs;
      for (const MatView& w : ws) {
        want.emplace_back(size_t(n * w.rows));
        got.emplace_back(size_t(n * w.rows));
        kernels::matmul(x.data(), n, w, nullptr, want.back().data());
      }
      for (size_t i = 0; i < 3; ++i) outs.push_back({ws[i], nullptr, got[i].data()});
      kernels::matmul_multi(x.data(), n, outs);
      for (size_t i = 0; i < 3; ++i)
        EXPECT_EQ(std::memcmp(want[i].data(), got[i].data(), want[i].size() * sizeof(float)), 0)
            << "terms=" << terms << " n=" << n << " weight " << i;
    }
  kernels::set_gemm_min_work(kernels::kGemmMinWork);
}

// The SwiGLU MLP on blocked weights (decode and prefill rows) against the same MLP on the plain
// ones (oneDNN's transposed path, the FMA gemv): at 2 terms both are within ~2^-17 of exact, so
// they agree to kNmseTerms.
TEST(BlockedLayout, SwigluMlpMatchesThePlainLayout) {
  SKIP_WITHOUT_DOT_DISPATCH();
  std::mt19937 rng(131);
  const int64_t d = 128, ff = 320;
  Blocked g(ff, d, rng), u(ff, d, rng), dn(d, ff, rng);
  kernels::set_gemm_min_work(0);
  for (int64_t n : {1, 5, 32}) {
    const std::vector<float> x = random_floats(size_t(n * d), rng);
    std::vector<float> gate(size_t(n * ff)), up(size_t(n * ff)), plain(size_t(n * d)), blocked(size_t(n * d));
    kernels::swiglu_mlp(x.data(), n, g.plain(), nullptr, u.plain(), nullptr, dn.plain(), nullptr, gate.data(),
                        up.data(), plain.data());
    MatView wg = g.plain(), wu = u.plain(), wd = dn.plain();
    wg.blocked = g.blocked.data();
    wu.blocked = u.blocked.data();
    wd.blocked = dn.blocked.data();
    kernels::swiglu_mlp(x.data(), n, wg, nullptr, wu, nullptr, wd, nullptr, gate.data(), up.data(), blocked.data());
    const std::vector<double> ref(plain.begin(), plain.end());
    EXPECT_LE(nmse(blocked.data(), ref.data(), ref.size()), kNmseTerms) << "n=" << n;
  }
  kernels::set_gemm_min_work(kernels::kGemmMinWork);
}

// SLOT's gradient W^T r (matvec_t) on the blocked layout, against float64: f32 exact products, so
// only f32 summation separates them (kNmseExactSums), on one and several blocks per thread.
TEST(BlockedLayout, TransposedProductMatchesReference) {
  SKIP_WITHOUT_DOT_DISPATCH();
  std::mt19937 rng(137);
  for (const auto& [m, k] : {std::pair<int64_t, int64_t>{64, 32}, {128, 96}, {1024, 160}}) {
    const Blocked b(m, k, rng);
    const std::vector<float> x = random_floats(size_t(m), rng);
    std::vector<double> ref(size_t(k), 0.0);
    for (int64_t r = 0; r < m; ++r)
      for (int64_t i = 0; i < k; ++i) ref[size_t(i)] += double(x[size_t(r)]) * b.w.values[size_t(r * k + i)];
    MatView mv = b.plain();
    mv.blocked = b.blocked.data();
    std::vector<float> y(size_t(k), -7.f);
    kernels::matvec_t(x.data(), mv, y.data());
    EXPECT_LE(nmse(y.data(), ref.data(), ref.size()), kNmseExactSums) << m << " x " << k;
    // The kernel's own contract: it adds to acc.
    std::vector<float> scratch(size_t(16 * k)), acc(size_t(k), 1.f);
    kernels::detail::blocked_gemv_t_bf16(x.data(), b.blocked.data(), k, 0, m, scratch.data(), acc.data());
    for (auto& v : ref) v += 1.0;
    EXPECT_LE(nmse(acc.data(), ref.data(), ref.size()), kNmseExactSums) << m << " x " << k << " (kernel)";
  }
}

// A row read back from the layout (a tied embedding's lookup) is the stored row, bit for bit, and
// matrix_row reads it from the layout (the plain rows here are NaN).
TEST(BlockedLayout, RowsReadBackFromTheLayout) {
  std::mt19937 rng(139);
  const int64_t m = 192, k = 96;
  const Blocked b(m, k, rng);
  std::vector<float> row(static_cast<size_t>(k));
  for (int64_t r : {int64_t(0), int64_t(63), int64_t(64), int64_t(191)}) {
    kernels::detail::blocked_row(b.blocked.data(), k, r, row.data());
    EXPECT_EQ(std::memcmp(row.data(), b.w.values.data() + r * k, size_t(k) * sizeof(float)), 0) << "row " << r;
  }
  SKIP_WITHOUT_DOT_DISPATCH();
  const std::vector<uint16_t> poison(size_t(m * k), 0x7fc0);
  const MatView mv{poison.data(), DType::kBF16, m, k, nullptr, b.blocked.data()};
  kernels::matrix_row(mv, 100, row.data());
  EXPECT_EQ(std::memcmp(row.data(), b.w.values.data() + 100 * k, size_t(k) * sizeof(float)), 0);
}

}  // namespace
}  // namespace slotlm::test
