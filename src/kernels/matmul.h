// SPDX-License-Identifier: MIT
// Matrix products of f32 activations with weights of any dtype (kernels layer).
// Depends on core only. Threaded with OpenMP over output features.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace slotlm::kernels {

// y[i, :] = W x[i, :] + bias for i < n, i.e. y = x W^T (+ bias), the layout of torch's nn.Linear.
// x `[n, k]` f32, w `[m, k]` (f32, bf16 or f16), bias `[m]` f32 or null, y `[n, m]` f32.
// y must not alias x. Accumulates in f32.
void matmul(const float* x, int64_t n, const MatView& w, const float* bias, float* y);

// y[j] = sum_i x[i] W[i, j]: the transposed product g = W^T r used by SLOT's gradient.
// x `[m]` f32, w `[m, k]`, y `[k]` f32 (overwritten). Accumulates in f32 per thread, then sums.
void matvec_t(const float* x, const MatView& w, float* y);

// Converts `n` elements of `src` (dtype `t`) to f32.
void convert_to_f32(const void* src, DType t, int64_t n, float* dst);

// sum_i a[i] * b[i] in f32.
float dot_f32(const float* a, const float* b, int64_t n);

}  // namespace slotlm::kernels
