// SPDX-License-Identifier: MIT
// Internal to src/kernels: bf16 weights in the blocked layout oneDNN's AVX512-BF16 GEMM (brgemm)
// reads without repacking, and the decode-sized products on it (VDPBF16PS; isa/blocked_gemv_avx512.cpp,
// compiled with -mavx512bf16). On CPUs with AVX512-BF16 and no AMX the loader lays the layer
// matrices out once this way (model::lay_out_weights), so the prefill's oneDNN products skip their
// per-call copy of the weights and decode streams the same bytes: the weights are held once.
#pragma once

#include <cstdint>

namespace slotlm::kernels::detail {

// oneDNN's `BA16a64b2a` for W^T `[k, m]` (W `[m, k]` row-major, the nn.Linear layout): blocks of
// 64 output features, each holding all of k as pairs, out[(r / 64) * 64 * k + (i / 2) * 128 +
// (r % 64) * 2 + i % 2] = W[r, i]. A block is k / 2 rows of 256 bytes: one pair of inputs for 64
// features, which is one VDPBF16PS operand per 16 features.
inline constexpr int64_t kBlockRows = 64;
inline constexpr int64_t kBlockCols = 32;  // oneDNN's k block (16 pairs); k must be a multiple

inline bool blocked_fits(int64_t rows, int64_t cols) {
  return rows > 0 && cols > 0 && rows % kBlockRows == 0 && cols % kBlockCols == 0;
}

// W `[rows, k]` bf16 (row-major, rows and k as blocked_fits) into the layout above. Plain C++
// (no ISA flags), threaded over blocks.
void blocked_pack(const uint16_t* w, int64_t rows, int64_t k, uint16_t* out);

// Most rows of x one walk over a block takes (blocked_gemv_bf16).
inline constexpr int64_t kMaxWalkRows = 8;

// How blocked_gemv_bf16 walks its blocks for n rows of x: `rows` per walk (clamped to
// 1..kMaxWalkRows; fewer than the most only for benchmarks), and when a block needs more than one
// walk, the last prefetches part of the next block if it starts below `rows_ahead` (a multiple of
// 64, at most W's rows; r1 turns it off). Prefetches and walks only: the results do not depend on
// them.
struct BlockedWalks {
  int64_t rows_ahead;
  int64_t rows = kMaxWalkRows;
};

// y[j * ldy + r] = sum_i W[r, i] x[j, i] (+ bias[r]) for j < n and r in [r0, r1) (multiples of 64):
// W in the blocked layout above (all of its k), x packed by dot_gemv_pack (dot_gemv.h) with the same
// n, terms (1..3) and k. Each output is one f32 lane fed one pair of inputs per step, the terms of
// that step in order: the same sequence of operations whatever n, the walks or the rows, so a row
// of x gets the same bits alone or in a batch, and no horizontal sums are needed.
void blocked_gemv_bf16(const uint16_t* xp, int64_t n, int terms, const uint16_t* wb, int64_t k, int64_t r0,
                       int64_t r1, const BlockedWalks& walks, const float* bias, float* y, int64_t ldy);

// acc[i] += sum_r x[r] W[r, i] for r in [r0, r1) (multiples of 64) and i < k: the transposed
// product (SLOT's gradient W^T r) on W in the blocked layout, f32 exact per product (the weights
// widened, f32 FMAs). `scratch` holds 16 * k floats (per-lane partial sums, summed at the end).
void blocked_gemv_t_bf16(const float* x, const uint16_t* wb, int64_t k, int64_t r0, int64_t r1, float* scratch,
                         float* acc);

// Row r of W (blocked layout, k columns) as f32 into out[0, k): an embedding row of a tied LM head.
void blocked_row(const uint16_t* wb, int64_t k, int64_t r, float* out);

}  // namespace slotlm::kernels::detail
