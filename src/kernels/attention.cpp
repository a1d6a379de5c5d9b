// SPDX-License-Identifier: MIT
#include "kernels/attention.h"

#include <cmath>
#include <vector>

#include "kernels/dispatch.h"

namespace slotlm::kernels {

// Work item = (query token i, KV head g). The `group` query heads of g are adjacent in q, so
//   scores [group, n_keys] = q[i, g*group : (g+1)*group] . K_g^T   (one gemv, each key row loaded
//                                                                  once for all heads of the group)
//   p = exp((scores - rowmax) / sqrt(d)),  out = (p V_g) / rowsum   (one mix_rows, each value row
//                                                                  loaded once for the group)
// Same maths as the per-head loop (HF eager attention): softmax with max subtraction, f32 sums;
// only the order of additions and the exp implementation (SIMD polynomial, ~1 ulp) differ.
void attention(const float* q, int64_t n_tok, int64_t n_past, const float* k, const float* v,
               const AttentionShape& s, float* out) {
  const int64_t group = s.n_head / s.n_kv_head;
  const int64_t d = s.d_head, kv_stride = s.n_kv_head * d;
  const float scale = 1.f / std::sqrt(float(d));
  const KernelTable& tab = kernel_table();
  const int64_t n_items = n_tok * s.n_kv_head;
  // Parallel only when there is enough work to pay for waking the threads.
  const bool big = n_tok * s.n_head * (n_past + n_tok) * d >= (1 << 15);
#pragma omp parallel if (big)
  {
    // Per-thread score buffer, kept across calls so the decode loop does not allocate.
    thread_local std::vector<float> scores;
    if (scores.size() < size_t(group * (n_past + n_tok))) scores.resize(size_t(group * (n_past + n_tok)));
    // Round-robin items: later tokens attend to more keys, so interleaving balances threads.
#pragma omp for schedule(static, 1)
    for (int64_t item = 0; item < n_items; ++item) {
      const int64_t i = item / s.n_kv_head, g = item % s.n_kv_head;
      const int64_t n_keys = n_past + i + 1;
      const float* qi = q + (i * s.n_head + g * group) * d;  // [group, d]
      float* oi = out + (i * s.n_head + g * group) * d;      // [group, d]
      float* sc = scores.data();                             // [group, n_keys]
      tab.gemv_f32(qi, group, k + g * d, n_keys, d, kv_stride, nullptr, sc, n_keys);
      float inv[64];
      float* inv_sum = group <= 64 ? inv : nullptr;
      std::vector<float> inv_big(group <= 64 ? 0 : size_t(group));
      if (!inv_sum) inv_sum = inv_big.data();
      for (int64_t t = 0; t < group; ++t) {
        float* row = sc + t * n_keys;
        inv_sum[t] = 1.f / tab.exp_sum(row, n_keys, tab.max_f32(row, n_keys), scale, row);
      }
      tab.mix_rows(sc, group, n_keys, v + g * d, n_keys, kv_stride, d, oi, d);
      for (int64_t t = 0; t < group; ++t)
        for (int64_t c = 0; c < d; ++c) oi[t * d + c] *= inv_sum[t];
    }
  }
}

}  // namespace slotlm::kernels
