// SPDX-License-Identifier: MIT
// Internal to src/kernels: decode-sized bf16 matrix products on AVX512-BF16 dot products
// (VDPBF16PS; isa/dot_gemv_avx512.cpp, compiled with -mavx512bf16), for CPUs without AMX. matmul.cpp's
// gemv path calls it for bf16 weights when bf16_dot_available() holds.
#pragma once

#include <cstdint>

namespace slotlm::kernels::detail {

// The CPU (and OS) run AVX512-BF16 next to the AVX-512 ISA of the kernel table (defined in
// matmul.cpp, without ISA flags).
bool bf16_dot_available();

// Shapes dot_gemv_bf16 takes: k a multiple of 32 (one zmm of bf16 per weight row and step).
inline bool dot_gemv_fits(int64_t k) { return k % 32 == 0 && k > 0; }

// uint16 elements of x `[n, k]` packed as `terms` bf16 terms per row.
inline constexpr int64_t dot_gemv_packed_size(int64_t n, int terms, int64_t k) { return n * terms * k; }

// x `[n, k]` f32 as bf16 terms, out[(j * terms + t) * k + i] = term t of x[j, i]: the terms of
// split_bf16_terms, bit for bit (1: x rounded to bf16; 2 and 3: what the earlier terms miss).
void dot_gemv_pack(const float* x, int64_t n, int terms, int64_t k, uint16_t* out);

// y[j * ldy + r] = sum_i W[r, i] x[j, i] (+ bias[r]) for j < n, r < rows: W `[rows, k]` bf16 (row
// stride ldw, read in place), x packed by dot_gemv_pack with the same n, terms (1..3) and k. Each
// (row, x row) pair has one f32 accumulator of 16 lanes fed 32 products per step, the terms of that
// step in order, then summed in the FMA gemv's fixed order (reduce_avx512.h): the same sequence of
// operations whatever n, the rows or the tile, so a row of x gets the same bits alone or in a batch.
void dot_gemv_bf16(const uint16_t* xp, int64_t n, int terms, const uint16_t* w, int64_t ldw, int64_t rows,
                   int64_t k, const float* bias, float* y, int64_t ldy);

}  // namespace slotlm::kernels::detail
