// SPDX-License-Identifier: MIT
// Internal to src/kernels: one work item of the blocked (prefill) attention path of attention.cpp,
// with one implementation per ISA (isa/attention_avx512.cpp, ref/attention_blocked_ref.cpp).
#pragma once

#include <algorithm>
#include <cstddef>
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
  // attention_block_amx / _dot only: K and V as laid out by amx_pack_kv / dot_pack_kv,
  // kv_blocks = ceil(keys / 32).
  const uint16_t* kp = nullptr;
  const uint16_t* vp = nullptr;
  int64_t kv_blocks = 0;
};

// Per row r of the block: its output row o[r] (`[d_head]` in b.out) and how many keys it sees,
// lim[r]; rows past n_rows repeat the last row (every kernel gives them q = 0 and never stores them).
inline void block_rows(const AttentionBlock& b, float* o[kBlockRows], int32_t lim[kBlockRows]) {
  const int64_t group = b.n_head / b.n_kv_head;
  for (int64_t r = 0; r < kBlockRows; ++r) {
    const int64_t row = b.row0 + std::min(r, b.n_rows - 1), i = row / group;
    o[r] = b.out + (i * b.n_head + b.g * group + row % group) * b.d_head;
    lim[r] = int32_t(b.n_past + i + 1);
  }
}

// 64-byte aligned scratch of at least n floats, one per thread, grown as needed and kept for later
// calls (attention.cpp): the block kernels' working rows (a thread runs one block at a time).
float* block_scratch(size_t n);

// Both are thread-safe: per-thread scratch, grown as needed and kept for later calls.
void attention_block_avx512(const AttentionBlock& b);    // -mavx512f/bw/vl -mfma
void attention_block_portable(const AttentionBlock& b);  // plain C++, no ISA flags (scalar)

// The AMX-BF16 path (isa/attention_amx.cpp) for the `fast` precision: q, K, V and the softmax
// probabilities rounded to bf16, products accumulated in f32. Needs d_head % 32 == 0.
// amx_attention_available: AMX-BF16 granted (amx_available) and AVX512-BF16.
bool amx_attention_available();
// K and V `[n_keys, n_kv_head, d_head]` (f32) -> kp, vp, each `[n_kv_head][ceil(n_keys / 32) * 32][d_head]`
// bf16 elements (64-byte aligned) in tile layouts: per head, per block of 32 keys, K as an AMX
// GEMM weight block (amx_pack_weights of the 32 key rows over d_head) and V as d_head / 16 tiles
// of 16 key pairs x 16 columns. Keys past n_keys are zero.
void amx_pack_kv(const float* k, const float* v, int64_t n_keys, int64_t n_kv_head, int64_t d_head,
                 uint16_t* kp, uint16_t* vp);
void attention_block_amx(const AttentionBlock& b);  // b.kp / b.vp / b.kv_blocks from amx_pack_kv

// The AVX512-BF16 path (isa/attention_dot_avx512.cpp) for the `fast` precision on CPUs without AMX:
// the same roundings as the AMX path (q, K, V and the probabilities to bf16), products on VDPBF16PS
// with f32 sums. Needs d_head % 32 == 0 and bf16_dot_available().
// K and V `[n_keys, n_kv_head, d_head]` (f32) -> kp, vp, each `[n_kv_head][ceil(n_keys / 32) * 32][d_head]`
// bf16 elements: per head, K rows as they are, V as pairs of keys (v[2i, c], v[2i + 1, c]) per
// column. Keys past n_keys are zero.
void dot_pack_kv(const float* k, const float* v, int64_t n_keys, int64_t n_kv_head, int64_t d_head,
                 uint16_t* kp, uint16_t* vp);
void attention_block_dot(const AttentionBlock& b);  // b.kp / b.vp / b.kv_blocks from dot_pack_kv

}  // namespace slotlm::kernels::detail
