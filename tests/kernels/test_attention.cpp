// SPDX-License-Identifier: MIT
// Causal GQA attention against a float64 reference, per ISA, for prefill and decode shapes.
#include <omp.h>

#include <cstring>

#include "kernel_test_util.h"
#include "kernels/attention.h"
#include "kernels/matmul.h"  // amx_enabled

namespace slotlm::test {
namespace {

// Softmax-weighted sums of O(1) values in f32: relative error ~1e-6; NMSE bound with margin. Holds
// for both paths (rowwise and blocked, polynomial or libm exp); observed <= 7e-13.
constexpr double kNmseAttention = 1e-10;

std::vector<double> reference(const std::vector<float>& q, int64_t n_tok, int64_t n_past,
                              const std::vector<float>& k, const std::vector<float>& v,
                              const kernels::AttentionShape& s) {
  const int64_t d = s.d_head, group = s.n_head / s.n_kv_head, kvs = s.n_kv_head * d;
  std::vector<double> out(size_t(n_tok * s.n_head * d), 0.0);
  for (int64_t i = 0; i < n_tok; ++i)
    for (int64_t h = 0; h < s.n_head; ++h) {
      const int64_t g = h / group, n_keys = n_past + i + 1;
      std::vector<double> sc(static_cast<size_t>(n_keys));
      double mx = -1e300, sum = 0;
      for (int64_t j = 0; j < n_keys; ++j) {
        double a = 0;
        for (int64_t t = 0; t < d; ++t) a += double(q[size_t((i * s.n_head + h) * d + t)]) * k[size_t(j * kvs + g * d + t)];
        sc[size_t(j)] = a / std::sqrt(double(d));
        mx = std::max(mx, sc[size_t(j)]);
      }
      for (auto& e : sc) sum += (e = std::exp(e - mx));
      for (int64_t j = 0; j < n_keys; ++j)
        for (int64_t t = 0; t < d; ++t)
          out[size_t((i * s.n_head + h) * d + t)] += sc[size_t(j)] / sum * v[size_t(j * kvs + g * d + t)];
    }
  return out;
}

class AttentionIsa : public ::testing::TestWithParam<kernels::Isa> {};

TEST_P(AttentionIsa, MatchesReference) {
  IsaGuard guard(GetParam());
  std::mt19937 rng(5);
  struct Case { int64_t n_tok, n_past, n_head, n_kv, d_head; };
  for (const Case& c : {Case{1, 0, 2, 1, 16}, Case{1, 37, 4, 2, 64}, Case{7, 0, 4, 2, 17},
                        Case{20, 5, 14, 2, 64}, Case{3, 100, 4, 4, 33}, Case{64, 0, 2, 1, 128}}) {
    const kernels::AttentionShape s{c.n_head, c.n_kv, c.d_head};
    const int64_t n_ctx = c.n_past + c.n_tok;
    std::vector<float> q = random_floats(size_t(c.n_tok * c.n_head * c.d_head), rng);
    std::vector<float> k = random_floats(size_t(n_ctx * c.n_kv * c.d_head), rng);
    std::vector<float> v = random_floats(size_t(n_ctx * c.n_kv * c.d_head), rng);
    std::vector<float> out(q.size());
    kernels::attention(q.data(), c.n_tok, c.n_past, k.data(), v.data(), s, out.data());
    std::vector<double> ref = reference(q, c.n_tok, c.n_past, k, v, s);
    EXPECT_LE(nmse(out.data(), ref.data(), out.size()), kNmseAttention)
        << "n_tok=" << c.n_tok << " n_past=" << c.n_past << " d_head=" << c.d_head;
  }
}

// The prefill sweep: causal GQA groups 1, 2 and 7, d_head 64 (Qwen2.5-0.5B) and 80 / 48 / 33
// (more than four vectors of columns, fewer, and a partial vector), n_tok 1 (decode: rowwise path),
// 17, 100 and 300 (blocked path on scalar and AVX-512: one partial block up to many blocks per KV
// head), with and without earlier keys, most inputs starting one or two floats past the
// allocation. Each result is checked against the float64 reference, and attention_rowwise against
// it too on the prefill shapes.
TEST_P(AttentionIsa, PrefillSweepMatchesReference) {
  IsaGuard guard(GetParam());
  std::mt19937 rng(11);
  struct Case { int64_t n_tok, n_past, group, d_head; };
  std::vector<Case> cases;
  for (int64_t group : {1, 2, 7})
    for (int64_t n_tok : {1, 17, 100, 300})
      for (int64_t n_past : {0, 45}) {
        cases.push_back({n_tok, n_past, group, 64});
        if (n_tok == 17 || n_tok == 100)
          cases.push_back({n_tok, n_past, group, group == 1 ? 80 : group == 2 ? 48 : 33});
      }
  for (const Case& c : cases) {
    const kernels::AttentionShape s{2 * c.group, 2, c.d_head};
    const int64_t n_ctx = c.n_past + c.n_tok, misalign = c.n_tok % 3;
    std::vector<float> q = random_floats(size_t(c.n_tok * s.n_head * c.d_head + misalign), rng);
    std::vector<float> k = random_floats(size_t(n_ctx * 2 * c.d_head + misalign), rng);
    std::vector<float> v = random_floats(k.size(), rng);
    std::vector<float> out(q.size()), out_rowwise(q.size());
    const std::vector<float> q0(q.begin() + misalign, q.end()), k0(k.begin() + misalign, k.end()),
        v0(v.begin() + misalign, v.end());
    const std::vector<double> ref = reference(q0, c.n_tok, c.n_past, k0, v0, s);
    kernels::attention(q.data() + misalign, c.n_tok, c.n_past, k.data() + misalign,
                       v.data() + misalign, s, out.data() + misalign);
    EXPECT_LE(nmse(out.data() + misalign, ref.data(), ref.size()), kNmseAttention)
        << "n_tok=" << c.n_tok << " n_past=" << c.n_past << " group=" << c.group
        << " d_head=" << c.d_head;
    if (c.n_tok == 1) continue;
    kernels::attention_rowwise(q.data() + misalign, c.n_tok, c.n_past, k.data() + misalign,
                               v.data() + misalign, s, out_rowwise.data() + misalign);
    EXPECT_LE(nmse(out_rowwise.data() + misalign, ref.data(), ref.size()), kNmseAttention)
        << "rowwise n_tok=" << c.n_tok << " n_past=" << c.n_past << " group=" << c.group;
  }
}

// Peaked softmax, as trained models produce: q and k ~ N(0, 16) give scores with a spread of ~16,
// so a few keys carry each row and most probabilities are far below 1e-7 of the largest.
TEST_P(AttentionIsa, PeakedScoresMatchReference) {
  IsaGuard guard(GetParam());
  std::mt19937 rng(12);
  const kernels::AttentionShape s{14, 2, 64};
  const int64_t n_tok = 70, n_past = 3;
  std::vector<float> q = random_floats(size_t(n_tok * 14 * 64), rng, 4.f);
  std::vector<float> k = random_floats(size_t((n_past + n_tok) * 2 * 64), rng, 4.f);
  std::vector<float> v = random_floats(k.size(), rng);
  std::vector<float> out(q.size());
  kernels::attention(q.data(), n_tok, n_past, k.data(), v.data(), s, out.data());
  const std::vector<double> ref = reference(q, n_tok, n_past, k, v, s);
  EXPECT_LE(nmse(out.data(), ref.data(), ref.size()), kNmseAttention);
}

// Decode over long contexts: attention_rowwise splits each token's keys into blocks of 128 and
// merges the blocks' softmax partials. Contexts just under, at and over a block boundary, many
// blocks, a few tokens whose key counts straddle boundaries, and peaked scores (q, k ~ N(0, 16)),
// where most blocks' maxima are far below the row's and their weights underflow to 0.
TEST_P(AttentionIsa, DecodeOverManyKeyBlocksMatchesReference) {
  IsaGuard guard(GetParam());
  std::mt19937 rng(13);
  struct Case { int64_t n_tok, n_past; float scale; };
  const kernels::AttentionShape s{14, 2, 64};
  for (const Case& c : {Case{1, 126, 1.f}, Case{1, 127, 1.f}, Case{1, 128, 1.f}, Case{1, 1000, 1.f},
                        Case{3, 254, 1.f}, Case{1, 1500, 4.f}}) {
    const int64_t n_ctx = c.n_past + c.n_tok;
    std::vector<float> q = random_floats(size_t(c.n_tok * 14 * 64), rng, c.scale);
    std::vector<float> k = random_floats(size_t(n_ctx * 2 * 64), rng, c.scale);
    std::vector<float> v = random_floats(k.size(), rng);
    std::vector<float> out(q.size());
    kernels::attention(q.data(), c.n_tok, c.n_past, k.data(), v.data(), s, out.data());
    const std::vector<double> ref = reference(q, c.n_tok, c.n_past, k, v, s);
    EXPECT_LE(nmse(out.data(), ref.data(), ref.size()), kNmseAttention)
        << "n_tok=" << c.n_tok << " n_past=" << c.n_past << " scale=" << c.scale;
  }
}

// The key blocks have a fixed size and merge in order, so the result is the same bits on 1 thread
// as on 2, and a token's output is the same alone as among other tokens of one call.
TEST(AttentionRowwise, ResultsDoNotDependOnThreadsOrOtherTokens) {
  std::mt19937 rng(14);
  const kernels::AttentionShape s{14, 2, 64};
  const int64_t n_tok = 3, n_past = 700, n_ctx = n_past + n_tok;
  std::vector<float> q = random_floats(size_t(n_tok * 14 * 64), rng);
  std::vector<float> k = random_floats(size_t(n_ctx * 2 * 64), rng), v = random_floats(k.size(), rng);
  std::vector<float> two(q.size()), one(q.size()), alone(size_t(14 * 64));
  const int threads = omp_get_max_threads();
  omp_set_num_threads(2);
  kernels::attention_rowwise(q.data(), n_tok, n_past, k.data(), v.data(), s, two.data());
  omp_set_num_threads(1);
  kernels::attention_rowwise(q.data(), n_tok, n_past, k.data(), v.data(), s, one.data());
  omp_set_num_threads(threads);
  EXPECT_EQ(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)), 0);
  for (int64_t i = 0; i < n_tok; ++i) {
    kernels::attention_rowwise(q.data() + i * 14 * 64, 1, n_past + i, k.data(), v.data(), s, alone.data());
    EXPECT_EQ(std::memcmp(alone.data(), two.data() + i * 14 * 64, alone.size() * sizeof(float)), 0) << "token " << i;
  }
}

// Many rows over long contexts run in groups whose key-block partials fit 8 MiB: with 28 heads of
// 128 (a 7B shape) that is 576 blocks, so 40 tokens after 2000 keys (640 blocks) take two groups.
// Each token still gets the bits it gets alone, and the whole agrees with float64.
TEST(AttentionRowwise, RowGroupsGiveEachTokenItsBits) {
  std::mt19937 rng(16);
  const kernels::AttentionShape s{28, 4, 128};
  const int64_t n_tok = 40, n_past = 2000, n_ctx = n_past + n_tok, q_row = 28 * 128;
  std::vector<float> q = random_floats(size_t(n_tok * q_row), rng);
  std::vector<float> k = random_floats(size_t(n_ctx * 4 * 128), rng), v = random_floats(k.size(), rng);
  std::vector<float> out(q.size()), alone(static_cast<size_t>(q_row));
  kernels::attention_rowwise(q.data(), n_tok, n_past, k.data(), v.data(), s, out.data());
  for (int64_t i : {int64_t(0), int64_t(20), n_tok - 1}) {
    kernels::attention_rowwise(q.data() + i * q_row, 1, n_past + i, k.data(), v.data(), s, alone.data());
    EXPECT_EQ(std::memcmp(alone.data(), out.data() + i * q_row, alone.size() * sizeof(float)), 0) << "token " << i;
  }
  const std::vector<double> ref = reference(q, n_tok, n_past, k, v, s);
  EXPECT_LE(nmse(out.data(), ref.data(), ref.size()), kNmseAttention);
}

// attention_batch gives each sequence the bits attention() gives it alone: decode batches (one
// parallel region over all their key blocks) and mixed batches (a prefill-sized sequence: each on
// its own), with contexts from 1 to several key blocks.
TEST_P(AttentionIsa, BatchEqualsSeparateCalls) {
  IsaGuard guard(GetParam());
  std::mt19937 rng(15);
  const kernels::AttentionShape s{14, 2, 64};
  for (const std::vector<std::pair<int64_t, int64_t>>& batch :
       {std::vector<std::pair<int64_t, int64_t>>{{1, 0}, {1, 5}, {1, 130}, {1, 400}},
        std::vector<std::pair<int64_t, int64_t>>{{1, 300}, {20, 10}, {1, 7}}}) {
    std::vector<std::vector<float>> q, k, v, want, got;
    std::vector<kernels::AttentionSeq> seqs;
    for (const auto& [n_tok, n_past] : batch) {
      q.push_back(random_floats(size_t(n_tok * 14 * 64), rng));
      k.push_back(random_floats(size_t((n_past + n_tok) * 2 * 64), rng));
      v.push_back(random_floats(k.back().size(), rng));
      want.emplace_back(q.back().size());
      got.emplace_back(q.back().size());
    }
    for (size_t j = 0; j < batch.size(); ++j) {
      kernels::attention(q[j].data(), batch[j].first, batch[j].second, k[j].data(), v[j].data(), s, want[j].data());
      seqs.push_back({q[j].data(), batch[j].first, batch[j].second, k[j].data(), v[j].data(), got[j].data()});
    }
    kernels::attention_batch(seqs, s);
    for (size_t j = 0; j < batch.size(); ++j)
      EXPECT_EQ(std::memcmp(want[j].data(), got[j].data(), want[j].size() * sizeof(float)), 0)
          << "sequence " << j << " of " << batch.size() << ": n_tok=" << batch[j].first << " n_past=" << batch[j].second;
  }
}

// The `fast` precision's AMX path rounds q K^T's inputs, the probabilities and V to bf16 (unit
// roundoff 2^-9 each) and accumulates in f32: each output is off by ~2^-9 relative per rounding, so
// NMSE ~ 3 * (2^-9)^2 = 1.1e-5 on O(1) inputs; bound with ~9x margin. Seen: 5.4e-6 .. 1.1e-5.
constexpr double kNmseAttentionBf16 = 1e-4;

// Prefill attention with bf16_products (the `fast` precision of a bf16 model) against float64 at
// bf16 precision, shown to be a bf16 path (its error is far above the f32 paths'); d_head not a
// multiple of 32 falls back to the f32 blocked path.
void expect_bf16_attention(std::mt19937& rng) {
  struct Case { int64_t n_tok, n_past, group, d_head; };
  std::vector<Case> cases;
  for (int64_t group : {1, 2, 7})
    for (int64_t n_tok : {17, 100, 300})
      for (int64_t n_past : {0, 45}) cases.push_back({n_tok, n_past, group, group == 2 ? 128 : 64});
  cases.push_back({40, 3, 2, 32});
  cases.push_back({41, 4, 2, 96});  // an odd number of keys per row; column tiles of 64 and 32
  cases.push_back({40, 3, 2, 48});  // not a multiple of 32: f32 path
  for (const Case& c : cases) {
    const kernels::AttentionShape s{2 * c.group, 2, c.d_head, true};
    const int64_t n_ctx = c.n_past + c.n_tok;
    const std::vector<float> q = random_floats(size_t(c.n_tok * s.n_head * c.d_head), rng);
    const std::vector<float> k = random_floats(size_t(n_ctx * 2 * c.d_head), rng);
    const std::vector<float> v = random_floats(k.size(), rng);
    std::vector<float> out(q.size());
    kernels::attention(q.data(), c.n_tok, c.n_past, k.data(), v.data(), s, out.data());
    const std::vector<double> ref = reference(q, c.n_tok, c.n_past, k, v, s);
    const double e = nmse(out.data(), ref.data(), ref.size());
    const std::string what = "n_tok=" + std::to_string(c.n_tok) + " n_past=" + std::to_string(c.n_past) +
                             " group=" + std::to_string(c.group) + " d_head=" + std::to_string(c.d_head);
    if (c.d_head % 32 != 0) {
      EXPECT_LE(e, kNmseAttention) << what;
      continue;
    }
    EXPECT_LE(e, kNmseAttentionBf16) << what;
    EXPECT_GT(e, kNmseAttention) << what << ": the bf16 path did not run";
  }
}

// With AMX: on tiles.
TEST(AttentionAmx, FastPrecisionMatchesReferenceAtBf16Precision) {
  if (!kernels::isa_supported(kernels::Isa::kAvx512)) GTEST_SKIP() << "no AVX-512 here";
  IsaGuard guard(kernels::Isa::kAvx512);
  if (!kernels::amx_enabled()) GTEST_SKIP() << "no AMX-BF16 here (CPU, OS permission or ISA)";
  std::mt19937 rng(13);
  expect_bf16_attention(rng);
}

// Without AMX, on CPUs with AVX512-BF16 (at 1 bf16 term, `fast`): on VDPBF16PS dot products.
TEST(AttentionDot, FastPrecisionMatchesReferenceAtBf16Precision) {
  SKIP_WITHOUT_DOT_DISPATCH();
  Terms one(1);
  ASSERT_TRUE(kernels::bf16_dot_enabled());
  std::mt19937 rng(17);
  expect_bf16_attention(rng);
}

INSTANTIATE_TEST_SUITE_P(Isa, AttentionIsa, ::testing::ValuesIn(supported_isas()),
                         [](const auto& info) { return std::string(kernels::isa_name(info.param)); });

}  // namespace
}  // namespace slotlm::test
