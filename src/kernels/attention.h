// SPDX-License-Identifier: MIT
// Causal grouped-query attention over a KV cache (kernels layer). Depends on core only.
#pragma once

#include <cstdint>

namespace slotlm::kernels {

struct AttentionShape {
  int64_t n_head = 0;     // query heads
  int64_t n_kv_head = 0;  // key/value heads; n_head % n_kv_head == 0 (GQA group = n_head / n_kv_head)
  int64_t d_head = 0;
};

// For query token i (absolute position n_past + i), head h, kv head g = h / (n_head / n_kv_head):
//   out[i, h] = sum_{j <= n_past + i} softmax_j(q[i, h] . k[j, g] / sqrt(d_head)) v[j, g]
// q `[n_tok, n_head, d_head]`, k/v `[>= n_past + n_tok, n_kv_head, d_head]` (rows per position),
// out `[n_tok, n_head, d_head]`. Threaded over (token, head). Matches HF eager attention.
void attention(const float* q, int64_t n_tok, int64_t n_past, const float* k, const float* v,
               const AttentionShape& s, float* out);

}  // namespace slotlm::kernels
