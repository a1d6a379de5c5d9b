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
// Shapes amx_gemm_bf16 takes: k and m multiples of 32 (k: 32 bf16 per tile row; m: two 16-column
// tiles per weight block).
inline bool amx_gemm_fits(int64_t m, int64_t k) { return m % 32 == 0 && k % 32 == 0 && m > 0 && k > 0; }

// y `[n, m]` = sum_{t < terms} x_t `[n, k]` W^T (+ bias), W `[m, k]` bf16 row-major (read in place,
// re-laid out per thread in cache-sized blocks), x_t bf16 stacked as `[terms][n_pad][k]` with
// n_pad = n rounded up to kAmxRowBlock and rows n .. n_pad - 1 zero (split_bf16_terms). x and y
// should be 64-byte aligned: tile rows that straddle cache lines load ~2x slower. y is overwritten; bias `[m]`
// or null. Products of bf16 are exact in f32 and accumulate in f32 (the tiles flush subnormals).
// Threaded with OpenMP over blocks of output features.
void amx_gemm_bf16(const uint16_t* x, int64_t n, int terms, const uint16_t* w, int64_t m, int64_t k,
                   const float* bias, float* y);

// The per-block weight layout the tiles read (exposed for tests): rows [j0, j0 + 32) and columns
// [k0, k0 + kc) of W (ld `ldw`), kc a multiple of 32, as kc / 32 chunks of two 16 x 16 tiles of
// bf16 pairs: out[((c * 2 + h) * 16 + p) * 32 + 2 * j + e] = W[j0 + 16 h + j, k0 + 32 c + 2 p + e].
void amx_pack_weights(const uint16_t* w, int64_t ldw, int64_t j0, int64_t k0, int64_t kc, uint16_t* out);

}  // namespace slotlm::kernels::detail
