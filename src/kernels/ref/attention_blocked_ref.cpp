// SPDX-License-Identifier: MIT
// Portable blocked prefill attention (plain C++, no ISA flags), used by the scalar table: the
// reference for the blocking of isa/attention_avx512.cpp, with the same layout (qt `[d_head, 32]`
// pre-scaled by 1/sqrt(d_head), scores s `[n_keys, 32]`, lane-wise softmax) and std::exp.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/isa/attention_blocked.h"

namespace slotlm::kernels::detail {

namespace {

constexpr int64_t kRows = kBlockRows;
constexpr int64_t kMixRows = 4;  // output rows sharing each value row load in P.V

float* scratch(size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

}  // namespace

void attention_block_portable(const AttentionBlock& b) {
  const int64_t d = b.d_head, group = b.n_head / b.n_kv_head, ldk = b.n_kv_head * d;
  const int64_t n_rows = b.n_rows;
  float* o[kRows];
  int32_t lim[kRows];  // keys row r sees; rows past n_rows copy the last row (q = 0, not stored)
  block_rows(b, o, lim);
  const int64_t n_max = lim[n_rows - 1];
  float* qt = scratch(size_t(d * kRows + n_max * kRows));  // [d, 32] then s [n_max, 32]
  float* s = qt + d * kRows;
  const float scale = 1.f / std::sqrt(float(d));
  std::fill(qt, qt + d * kRows, 0.f);
  for (int64_t r = 0; r < n_rows; ++r) {
    const int64_t row = b.row0 + r, i = row / group;
    const float* qr = b.q + (i * b.n_head + b.g * group + row % group) * d;
    for (int64_t c = 0; c < d; ++c) qt[c * kRows + r] = qr[c] * scale;
  }

  // Scores with the causal mask (-inf) and row max, then p = exp(s - max) and row sums.
  float mx[kRows], sum[kRows] = {};
  std::fill(mx, mx + kRows, -INFINITY);
  const float* kg = b.k + b.g * d;
  for (int64_t j = 0; j < n_max; ++j) {
    float acc[kRows] = {};
    const float* kj = kg + j * ldk;
    for (int64_t c = 0; c < d; ++c)
      for (int64_t r = 0; r < kRows; ++r) acc[r] += kj[c] * qt[c * kRows + r];
    float* sj = s + j * kRows;
    for (int64_t r = 0; r < kRows; ++r) {
      sj[r] = j < lim[r] ? acc[r] : -INFINITY;
      mx[r] = std::max(mx[r], sj[r]);
    }
  }
  for (int64_t j = 0; j < n_max; ++j)
    for (int64_t r = 0; r < kRows; ++r) {
      float& p = s[j * kRows + r];
      p = j < lim[r] ? std::exp(p - mx[r]) : 0.f;
      sum[r] += p;
    }

  // P.V for kMixRows rows at a time, accumulated in the output rows, then divided by the sums.
  const float* vg = b.v + b.g * d;
  for (int64_t r0 = 0; r0 < n_rows; r0 += kMixRows) {
    const int64_t rt = std::min(kMixRows, n_rows - r0);
    for (int64_t t = 0; t < rt; ++t) std::fill(o[r0 + t], o[r0 + t] + d, 0.f);
    for (int64_t j = 0; j < lim[r0 + rt - 1]; ++j) {
      const float* vj = vg + j * ldk;
      for (int64_t t = 0; t < rt; ++t) {
        const float p = s[j * kRows + r0 + t];
        float* ot = o[r0 + t];
        for (int64_t c = 0; c < d; ++c) ot[c] += p * vj[c];
      }
    }
    for (int64_t t = 0; t < rt; ++t) {
      const float inv = 1.f / sum[r0 + t];
      for (int64_t c = 0; c < d; ++c) o[r0 + t][c] *= inv;
    }
  }
}

}  // namespace slotlm::kernels::detail
