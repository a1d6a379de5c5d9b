// SPDX-License-Identifier: MIT
#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/aligned.h"
#include "kernels/dispatch.h"
#include "kernels/matmul.h"
#include "kernels/isa/attention_blocked.h"

namespace slotlm::kernels {

namespace {

// Parallel only when there is enough work to pay for waking the threads.
bool worth_threads(int64_t n_tok, int64_t n_past, const AttentionShape& s) {
  return n_tok * s.n_head * (n_past + n_tok) * s.d_head >= (1 << 15);
}

// Work items = (KV head g, block of kBlockRows consecutive query rows of g); see
// isa/attention_blocked.h. Later blocks see more keys, so items are handed out largest first and
// dynamically, which keeps threads balanced on a causal prefill.
void attention_blocked(void (*run_block)(const detail::AttentionBlock&), const float* q,
                       int64_t n_tok, int64_t n_past, const float* k, const float* v,
                       const AttentionShape& s, float* out, const uint16_t* kp = nullptr,
                       const uint16_t* vp = nullptr) {
  using detail::AttentionBlock;
  const int64_t n_rows = n_tok * (s.n_head / s.n_kv_head);
  const int64_t n_blocks = (n_rows + detail::kBlockRows - 1) / detail::kBlockRows;
  const int64_t n_items = n_blocks * s.n_kv_head;
#pragma omp parallel for schedule(dynamic, 1) if (worth_threads(n_tok, n_past, s))
  for (int64_t item = 0; item < n_items; ++item) {
    const int64_t blk = n_blocks - 1 - item / s.n_kv_head;
    AttentionBlock b{q, k, v, out};
    b.n_past = n_past;
    b.n_head = s.n_head;
    b.n_kv_head = s.n_kv_head;
    b.d_head = s.d_head;
    b.g = item % s.n_kv_head;
    b.row0 = blk * detail::kBlockRows;
    b.n_rows = std::min(detail::kBlockRows, n_rows - b.row0);
    b.kp = kp;
    b.vp = vp;
    b.kv_blocks = (n_past + n_tok + 31) / 32;
    run_block(b);
  }
}

}  // namespace

void attention(const float* q, int64_t n_tok, int64_t n_past, const float* k, const float* v,
               const AttentionShape& s, float* out) {
  // The blocked path needs >= 16 query rows per KV head (decode and tiny prompts would be mostly
  // padding). AVX2 keeps the rowwise path: its SIMD gemv, exp and mix_rows beat the portable
  // blocked code compiled for AVX2 (~20 vs ~27 ms single-threaded for 512 Qwen2.5-0.5B tokens).
  const Isa isa = active_isa();
  if (n_tok * (s.n_head / s.n_kv_head) < 16 || isa == Isa::kAvx2) {
    attention_rowwise(q, n_tok, n_past, k, v, s, out);
    return;
  }
  if (s.bf16_products && isa == Isa::kAvx512 && s.d_head % 32 == 0 && amx_enabled() &&
      detail::amx_attention_available()) {
    // bf16 products on AMX tiles; K and V are laid out once per call for every query block.
    thread_local AlignedVector<uint16_t> kp, vp;
    const size_t n = size_t(s.n_kv_head * ((n_past + n_tok + 31) / 32 * 32) * s.d_head);
    if (kp.size() < n) {
      kp.resize(n);
      vp.resize(n);
    }
    detail::amx_pack_kv(k, v, n_past + n_tok, s.n_kv_head, s.d_head, kp.data(), vp.data());
    attention_blocked(detail::attention_block_amx, q, n_tok, n_past, k, v, s, out, kp.data(), vp.data());
    return;
  }
  attention_blocked(isa == Isa::kAvx512 ? detail::attention_block_avx512
                                        : detail::attention_block_portable,
                    q, n_tok, n_past, k, v, s, out);
}

// Work item = (query token i, KV head g). The `group` query heads of g are adjacent in q, so
//   scores [group, n_keys] = q[i, g*group : (g+1)*group] . K_g^T   (one gemv, each key row loaded
//                                                                  once for all heads of the group)
//   p = exp((scores - rowmax) / sqrt(d)),  out = (p V_g) / rowsum   (one mix_rows, each value row
//                                                                  loaded once for the group)
// Same maths as the per-head loop (HF eager attention): softmax with max subtraction, f32 sums;
// only the order of additions and the exp implementation (SIMD polynomial, ~1 ulp) differ.
void attention_rowwise(const float* q, int64_t n_tok, int64_t n_past, const float* k,
                       const float* v, const AttentionShape& s, float* out) {
  const int64_t group = s.n_head / s.n_kv_head;
  const int64_t d = s.d_head, kv_stride = s.n_kv_head * d;
  const float scale = 1.f / std::sqrt(float(d));
  const KernelTable& tab = kernel_table();
  const int64_t n_items = n_tok * s.n_kv_head;
#pragma omp parallel if (worth_threads(n_tok, n_past, s))
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
