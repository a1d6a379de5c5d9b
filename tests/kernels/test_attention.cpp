// SPDX-License-Identifier: MIT
// Causal GQA attention against a float64 reference, per ISA, for prefill and decode shapes.
#include "kernel_test_util.h"
#include "kernels/attention.h"

namespace slotlm::test {
namespace {

// Softmax-weighted sums of O(1) values in f32: relative error ~1e-6; NMSE bound with margin.
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

INSTANTIATE_TEST_SUITE_P(Isa, AttentionIsa, ::testing::ValuesIn(supported_isas()),
                         [](const auto& info) { return std::string(kernels::isa_name(info.param)); });

}  // namespace
}  // namespace slotlm::test
