// SPDX-License-Identifier: MIT
#include "kernels/attention.h"

#include <cmath>
#include <vector>

#include "kernels/matmul.h"

namespace slotlm::kernels {

void attention(const float* q, int64_t n_tok, int64_t n_past, const float* k, const float* v,
               const AttentionShape& s, float* out) {
  const int64_t group = s.n_head / s.n_kv_head;
  const int64_t d = s.d_head, kv_stride = s.n_kv_head * d;
  const float scale = 1.f / std::sqrt(float(d));
  // Parallel only when there is enough work to pay for waking the threads.
  const bool big = n_tok * s.n_head * (n_past + n_tok) * d >= (1 << 16);
#pragma omp parallel if (big)
  {
    // Per-thread score buffer, kept across calls so the decode loop does not allocate.
    thread_local std::vector<float> scores;
    if (scores.size() < size_t(n_past + n_tok)) scores.resize(size_t(n_past + n_tok));
#pragma omp for schedule(static) collapse(2)
    for (int64_t i = 0; i < n_tok; ++i) {
      for (int64_t h = 0; h < s.n_head; ++h) {
        const float* qi = q + (i * s.n_head + h) * d;
        const int64_t g = h / group, n_keys = n_past + i + 1;
        float mx = -INFINITY;
        for (int64_t j = 0; j < n_keys; ++j) {
          const float sc = dot_f32(qi, k + j * kv_stride + g * d, d) * scale;
          scores[size_t(j)] = sc;
          mx = sc > mx ? sc : mx;
        }
        float sum = 0.f;
        for (int64_t j = 0; j < n_keys; ++j) {
          scores[size_t(j)] = std::exp(scores[size_t(j)] - mx);
          sum += scores[size_t(j)];
        }
        const float inv = 1.f / sum;
        float* oi = out + (i * s.n_head + h) * d;
        for (int64_t t = 0; t < d; ++t) oi[t] = 0.f;
        for (int64_t j = 0; j < n_keys; ++j) {
          const float p = scores[size_t(j)] * inv;
          const float* vj = v + j * kv_stride + g * d;
#pragma omp simd
          for (int64_t t = 0; t < d; ++t) oi[t] += p * vj[t];
        }
      }
    }
  }
}

}  // namespace slotlm::kernels
