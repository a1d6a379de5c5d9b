// SPDX-License-Identifier: MIT
// Internal to src/kernels: prefill-sized bf16 matrix products on Intel AMX tiles
// (isa/amx_gemm.cpp, compiled with -mamx-tile -mamx-bf16 -mavx512f). matmul.cpp calls it instead of
// oneDNN when amx_available(), the active ISA is AVX-512 and the shapes fit (amx_gemm_fits).
#pragma once

#include <cstdint>

namespace slotlm::kernels::detail {

// The CPU has AMX-TILE and AMX-BF16 and Linux granted this process the tile register state
// (arch_prctl ARCH_REQ_XCOMP_PERM). Checked once.
bool amx_available();

// Loads the tile configuration both AMX kernels use (palette 1, all 8 tiles 16 rows x 64 bytes)
// on the calling thread.
void amx_load_tile_config();

// Rows of the activation buffer are processed 32 at a time (two 16-row tiles).
inline constexpr int64_t kAmxRowBlock = 32;
// n rounded up to whole row blocks: the rows of the activation buffer the tiles read.
inline constexpr int64_t amx_rows_padded(int64_t n) { return (n + kAmxRowBlock - 1) / kAmxRowBlock * kAmxRowBlock; }
// k up to kAmxKWhole is one block; longer k runs in blocks of kAmxKBlock columns, the partial sums
// waiting in y between blocks, so that one block of activations for all rows (n x kAmxKBlock x 2
// bytes per term) stays in L2 while every feature block runs over it. 2048 rather than 1024: a
// 512-token prefill of Qwen2.5-1.5B (k = 1536) in one process, interleaved, 1902 vs 2179 and 2335 vs
// 2621 ms with 2 terms, 1284 vs 1800 and 1138 vs 1680 ms with 1 (the partial sums of 512 x 8960
// gate / up no longer round-trip through memory). Blocks of 1024 or 2048 past that: mixed.
inline constexpr int64_t kAmxKWhole = 2048;
inline constexpr int64_t kAmxKBlock = 512;

// Shapes amx_gemm_bf16 takes: k and m multiples of 32 (k: 32 bf16 per tile row; m: two 16-column
// tiles per weight block).
inline bool amx_gemm_fits(int64_t m, int64_t k) { return m % 32 == 0 && k % 32 == 0 && m > 0 && k > 0; }

// y `[n, m]` = sum_{t < terms} x_t `[n, k]` W^T (+ bias), W `[m, k]` bf16 row-major, read from `wt`
// when not null (W in the tile layout, amx_pack_tiles) and otherwise re-laid out per thread in
// cache-sized blocks (the same bits either way), x_t bf16 stacked as `[terms][n_pad][k]` with
// n_pad = n rounded up to kAmxRowBlock and rows n .. n_pad - 1 zero (split_bf16_terms). x and y
// should be 64-byte aligned: tile rows that straddle cache lines load ~2x slower. y is overwritten; bias `[m]`
// or null. Products of bf16 are exact in f32 and accumulate in f32 (the tiles flush subnormals).
// Threaded with OpenMP over blocks of output features.
void amx_gemm_bf16(const uint16_t* x, int64_t n, int terms, const uint16_t* w, const uint16_t* wt, int64_t m,
                   int64_t k, const float* bias, float* y);

// The SwiGLU hidden layer of a prefill as the bf16 terms of the down projection's input:
// h = silu(x Wg^T + bg) * (x Wu^T + bu), Wg / Wu `[m, k]` bf16, x as for amx_gemm_bf16, written to
// h `[terms][n_pad][m]` bit for bit as split_bf16_terms would split the f32 h of the separate
// path (amx_gemm_bf16 twice, silu_mul, split), without storing gate / up in between: each thread
// runs both products of a 32-feature block per row block and finishes it in L1. gate / up `[n, m]`
// f32 hold partial sums when k > kAmxKWhole (several k blocks), otherwise they are not touched. h's rows
// n .. n_pad - 1 are left as they are (bf16_terms_buffer zeroes them). Biases may be null; wgt / wut
// are Wg / Wu in the tile layout, or null as for amx_gemm_bf16.
void amx_swiglu_bf16(const uint16_t* x, int64_t n, int terms, const uint16_t* wg, const uint16_t* wgt,
                     const float* bg, const uint16_t* wu, const uint16_t* wut, const float* bu, int64_t m,
                     int64_t k, float* gate, float* up, uint16_t* h);

// The per-block weight layout the tiles read (exposed for tests): rows [j0, j0 + 32) and columns
// [k0, k0 + kc) of W (ld `ldw`), kc a multiple of 32, as kc / 32 chunks of two 16 x 16 tiles of
// bf16 pairs: out[((c * 2 + h) * 16 + p) * 32 + 2 * j + e] = W[j0 + 16 h + j, k0 + 32 c + 2 p + e].
void amx_pack_weights(const uint16_t* w, int64_t ldw, int64_t j0, int64_t k0, int64_t kc, uint16_t* out);

// The tile layout of a whole weight W `[m, k]` (amx_gemm_fits): its 32-row blocks one after the
// other, block jb = amx_pack_weights(w, k, 32 jb, 0, k), so the block of rows [32 jb, 32 jb + 32)
// and columns [k0, k0 + kc) is the kc * 32 elements at amx_tile_block(wt, k, jb, k0) and every tile
// is 1 KB read in sequence. Decode reads it too (amx_gemv_tiles_bf16). Threaded over blocks.
void amx_pack_tiles(const uint16_t* w, int64_t m, int64_t k, uint16_t* out);
inline const uint16_t* amx_tile_block(const uint16_t* wt, int64_t k, int64_t jb, int64_t k0) {
  return wt + jb * 32 * k + k0 * 32;
}

}  // namespace slotlm::kernels::detail
