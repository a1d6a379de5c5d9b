// SPDX-License-Identifier: MIT
// Internal to src/kernels: one work item of the blocked (prefill) attention path of attention.cpp,
// with one implementation per ISA (isa/attention_avx512.cpp, ref/attention_blocked_ref.cpp).
#pragma once

#include <cstdint>

namespace slotlm::kernels::detail {

// Query rows per work item: two 16-lane vectors of rows in the AVX-512 kernel.
constexpr int64_t kBlockRows = 32;

// Rows `[row0, row0 + n_rows)` of KV head `g`, in the flat order r = i * group + t of query token
// i and query head g * group + t (group = n_head / n_kv_head); row r sees keys j <= n_past + i.
// Writes out[i, g * group + t] for those rows only, so items of different (g, rows) may run at
// the same time. Same maths as kernels::attention (see attention.h).
struct AttentionBlock {
  const float* q;  // `[n_tok, n_head, d_head]`
  const float* k;  // `[>= n_past + n_tok, n_kv_head, d_head]`
  const float* v;  // `[>= n_past + n_tok, n_kv_head, d_head]`
  float* out;      // `[n_tok, n_head, d_head]`
  int64_t n_past = 0;
  int64_t n_head = 0, n_kv_head = 0, d_head = 0;
  int64_t g = 0;                 // KV head
  int64_t row0 = 0, n_rows = 0;  // 1 <= n_rows <= kBlockRows
};

// Both are thread-safe: per-thread scratch, grown as needed and kept for later calls.
void attention_block_avx512(const AttentionBlock& b);    // -mavx512f/bw/vl -mfma
void attention_block_portable(const AttentionBlock& b);  // plain C++, no ISA flags (scalar)

}  // namespace slotlm::kernels::detail
