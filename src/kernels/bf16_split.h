// SPDX-License-Identifier: MIT
// Internal to src/kernels: f32 activations as bf16 terms for the bf16 matrix products (oneDNN's,
// gemm_dnnl.cpp, and the AMX tiles', isa/amx_gemm.cpp). Neither takes f32 x bf16 directly.
#pragma once

#include <cstdint>

namespace slotlm::kernels::detail {

// x `[rows, cols]` f32 as `terms` bf16 matrices, stacked `[terms][rows_pad][cols]` (rows_pad >=
// rows; rows rows_pad - 1 .. rows are zero): x = x_0 + x_1 (+ x_2), each term the bf16 rounding of
// what the previous ones leave. Products of bf16 numbers are exact in f32, so sum_t x_t W^T carries
// only the last term's rounding: relative error ~2^-9 for 1 term, ~2^-17 for 2, ~2^-25 (f32 level)
// for 3. Returns a 64-byte-aligned per-thread buffer, valid until the next call with the same
// `slot` on this thread (two slots: one product may hold two splits at once). Threaded.
const uint16_t* split_bf16_terms(const float* x, int64_t rows, int64_t cols, int terms, int64_t rows_pad,
                                 int slot = 0);

// The buffer split_bf16_terms fills, for a producer that writes the terms itself (the fused
// SwiGLU, isa/amx_gemm.h): `[terms][rows_pad][cols]` bf16, rows rows .. rows_pad - 1 zero, the
// rest unspecified. Same lifetime and slots as split_bf16_terms.
uint16_t* bf16_terms_buffer(int64_t rows, int64_t cols, int terms, int64_t rows_pad, int slot);

}  // namespace slotlm::kernels::detail
