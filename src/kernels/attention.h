// SPDX-License-Identifier: MIT
// Causal grouped-query attention over a KV cache (kernels layer). Depends on core only.
#pragma once

#include <cstdint>
#include <span>

namespace slotlm::kernels {

struct AttentionShape {
  int64_t n_head = 0;     // query heads
  int64_t n_kv_head = 0;  // key/value heads; n_head % n_kv_head == 0 (GQA group = n_head / n_kv_head)
  int64_t d_head = 0;
  // Prefill products in bf16 (q, K, V and the probabilities rounded to bf16, f32 accumulation) on
  // AMX tiles: the `fast` precision of a bf16 model, as PyTorch's bf16 model computes attention.
  // Taken only on AVX-512 with AMX-BF16 and AVX512-BF16, d_head % 32 == 0 and a prefill-sized call;
  // otherwise the f32 paths run. ~2.1-2.6x faster than the f32 blocked path (bench_attention).
  bool bf16_products = false;
};

// For query token i (absolute position n_past + i), head h, kv head g = h / (n_head / n_kv_head):
//   out[i, h] = sum_{j <= n_past + i} softmax_j(q[i, h] . k[j, g] / sqrt(d_head)) v[j, g]
// q `[n_tok, n_head, d_head]`, k/v `[>= n_past + n_tok, n_kv_head, d_head]` (rows per position),
// out `[n_tok, n_head, d_head]`; out must not overlap q, k or v. Matches HF eager attention.
// Threaded (OpenMP) when the work is large enough. Prefill-sized calls (n_tok * group >= 16) on
// the scalar and AVX-512 ISAs take a blocked path (blocks of 32 query rows per KV head); decode,
// and every call on AVX2, use attention_rowwise. Both compute the same maths up to f32 rounding.
void attention(const float* q, int64_t n_tok, int64_t n_past, const float* k, const float* v,
               const AttentionShape& s, float* out);

// Same contract as attention(), always the rowwise path: per token, blocks of 128 keys (whole K and
// V rows, so each thread streams contiguous memory), per KV head one gemv of the group's query rows
// against the block's keys, softmax partials and one mix_rows, then the blocks merged in order (the
// result does not depend on the thread count). attention() uses it for decode; public so that
// tests and benchmarks can compare the two paths.
void attention_rowwise(const float* q, int64_t n_tok, int64_t n_past, const float* k,
                       const float* v, const AttentionShape& s, float* out);

// One attention() call's arguments: a sequence of a batch, with its own cache.
struct AttentionSeq {
  const float* q = nullptr;
  int64_t n_tok = 0, n_past = 0;
  const float* k = nullptr;
  const float* v = nullptr;
  float* out = nullptr;
  // Keys the sequence's cache can hold: decode sizes its buffers for them on the first call, so
  // a later step that reaches a new key block allocates nothing. 0: only what this call needs.
  int64_t n_ctx = 0;
};
// attention() for each sequence (same shape), with the same results. When every one takes the
// rowwise path (batched decode), all their work items run in one parallel region: one thread
// wake-up per layer instead of one per sequence, and short contexts still keep both threads busy.
void attention_batch(std::span<const AttentionSeq> seqs, const AttentionShape& s);
// attention_rowwise() of several sequences in one parallel region (attention_batch's decode path).
void attention_rowwise_batch(std::span<const AttentionSeq> seqs, const AttentionShape& s);

}  // namespace slotlm::kernels
