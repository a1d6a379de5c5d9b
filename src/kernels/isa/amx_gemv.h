// SPDX-License-Identifier: MIT
// Internal to src/kernels: decode-sized bf16 matrix products (up to 16 activation rows) on Intel AMX
// tiles (isa/amx_gemv.cpp, compiled with the AMX flags). matmul.cpp's gemv path calls it for bf16
// weights when amx_enabled(); it needs amx_available() checked first.
#pragma once

#include <cstdint>

namespace slotlm::kernels::detail {

// Activation rows per call (more run in groups of this many).
inline constexpr int64_t kAmxGemvRows = 16;

// Shapes amx_gemv_bf16 takes: k a multiple of 32 (a tile row holds 32 bf16 of a weight row).
inline bool amx_gemv_fits(int64_t k) { return k % 32 == 0 && k > 0; }

// The activations go in as `terms` (1..3) bf16 terms each, as for the prefill products
// (split_bf16_terms): term t of row j is column q = terms * j + t of the tiles' second operand,
// which has 16 columns per tile. 2 terms (the default precision) put 8 rows in one tile, so 8
// sequences cost one tile product per weight tile, as one sequence does.
inline constexpr int64_t amx_gemv_col_tiles(int64_t n, int terms) { return (n * terms + 15) / 16; }
// uint16 elements of the packed activations.
inline constexpr int64_t amx_gemv_packed_size(int64_t n, int terms, int64_t k) {
  return amx_gemv_col_tiles(n, terms) * 16 * k;
}

// x `[n, k]` f32, 1 <= n <= kAmxGemvRows, as the tiles' second operand: nb = amx_gemv_col_tiles
// tiles per 32-column chunk c, each 16 rows of bf16 pairs; with column q = 16 b + i,
// out[((c * nb + b) * 16 + p) * 32 + 2 * i + e] = term q % terms of x[q / terms, 32 c + 2 p + e], zero
// for q >= terms * n. The terms are split_bf16_terms's, bit for bit. `out` holds
// amx_gemv_packed_size elements, 64-byte aligned.
void amx_gemv_pack(const float* x, int64_t n, int terms, int64_t k, uint16_t* out);

// y[j, r] = sum_i W[r, i] x[j, i] (+ bias[r]) for j < n, r < rows: W `[rows, k]` bf16 (row stride
// ldw, read in place, 16 rows per tile), rows a multiple of 16, x packed by amx_gemv_pack with the
// same n and terms. Each term of each row of x accumulates in its own tile column over all of k
// (f32, products exact), then the terms are added in order; so an output is the same sequence of
// operations whatever n or the row range, and a row of x gets the same bits alone or in a batch.
// Runs on the calling thread (loads the tile configuration, releases the tiles).
void amx_gemv_bf16(const uint16_t* xp, int64_t n, int terms, const uint16_t* w, int64_t ldw, int64_t rows,
                   int64_t k, const float* bias, float* y, int64_t ldy);

// Weights in the tile layout (amx_pack_tiles) are the tiles' SECOND operand and x the first: x
// as rows, row q = terms * j + t of tile b = q / 16 holding term t of x[j]:
// out[((c * nb + b) * 16 + q % 16) * 32 + e] = that term of x[j, 32 c + e], zero for q >= terms * n.
// Same size as amx_gemv_pack's layout; the same bf16 terms.
void amx_gemv_pack_rows(const float* x, int64_t n, int terms, int64_t k, uint16_t* out);

// amx_gemv_bf16 for W in the tile layout: wt points at the 32-row block of W's row r0 (r0 and
// `rows` multiples of 32), xa is x packed by amx_gemv_pack_rows. Each weight tile (1 KB, in
// sequence) is loaded once for all rows of x. The products and their order are those of
// amx_gemv_bf16 with the operands swapped, so the outputs are the same bits (tested).
void amx_gemv_tiles_bf16(const uint16_t* xa, int64_t n, int terms, const uint16_t* wt, int64_t rows, int64_t k,
                         const float* bias, float* y, int64_t ldy);

// y[kk] += sum_{r0 <= r < r1} x[r] W[r, kk] for W `[rows, k]` in the tile layout (wt: its start):
// one thread's share of matvec_t, on AVX-512 only (no tiles). Each tile is transposed back to 16
// weight rows in registers and every y[kk] gets the FMA chain in row order that the plain
// layout's gemv_t gives it (rows in fours, the last (r1 - r0) % 4 skipped where x is 0), so the
// same bits. r0 a multiple of 4.
void tiles_gemv_t_bf16(const float* x, const uint16_t* wt, int64_t r0, int64_t r1, int64_t k, float* y);

}  // namespace slotlm::kernels::detail
