// SPDX-License-Identifier: MIT
// Internal to src/kernels: matrix products through oneDNN's matmul primitive (AMX-bf16 / AVX-512 /
// AVX2 chosen by oneDNN at run time). matmul.cpp calls this for large batches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/tensor.h"
#include "kernels/matmul.h"

namespace slotlm::kernels::detail {

// True when dnnl_matmul handles weights of this dtype (f32, bf16; not f16).
bool dnnl_supports(DType t);

// y `[n, m]` = x `[n, k]` W^T + bias, W `[m, k]` used in place (oneDNN reads it as a `ba` [k, m]
// matrix, no copy). f32 weights: f32 src, f32 accumulation (oneDNN's default strict fp math).
// bf16 weights: oneDNN 2.6 has no f32 x bf16 matmul, so x is split into `terms` bf16 parts
// (set_bf16_terms; default 2, error ~2^-17 relative), products are exact in f32 and accumulate in
// f32, y is f32. Primitives are cached per shape.
// W in oneDNN's blocked layout (w.blocked, isa/blocked_gemv.h) when set: read as it is, without
// oneDNN's per-call copy of the weights.
void dnnl_matmul(const float* x, int64_t n, const MatView& w, const float* bias, float* y);

// dnnl_matmul of one x `[n, k]` by several weights (q/k/v, gate/up), x split into its bf16 terms once.
void dnnl_matmul_group(const float* x, int64_t n, std::span<const MatmulOut> outs);

// Whether oneDNN's bf16 GEMM on this CPU prefers its weights in the layout of isa/blocked_gemv.h
// (asked once, for an MLP-sized product): only then does laying them out pay.
bool dnnl_prefers_blocked();

// The SwiGLU MLP with bf16 weights in a transposed layout: gate^T and up^T `[ff, n]` computed
// with the weight matrix as oneDNN's source (faster than x W^T for these shapes: K = d_model is
// short, N = d_ff long), silu*mul in place, then the down projection reads h^T as a `ba` source.
// `gate`/`up` `[n * ff]` are scratch (left holding h^T and up^T); y `[n, d]` = h Wd^T + bd.
// Returns false (nothing done) when the weights are not all bf16 in the plain layout or the shapes
// do not chain.
bool dnnl_swiglu(const float* x, int64_t n, const MatView& wg, const MatView& wu, const MatView& wd,
                 const float* bd, float* gate, float* up, float* y);

// At most this many oneDNN primitives are kept (least recently used evicted; see gemm_dnnl.cpp).
inline constexpr size_t kDnnlMaxPrimitives = 64;
// The number currently kept (tests).
size_t dnnl_cached_primitives();

// Number of bf16 terms x is split into for bf16 weights: 1 (x rounded to bf16, fastest, ~2^-9),
// 2 (default, ~2^-17) or 3 (~2^-25, f32 level). Not thread-safe with running kernels.
void set_bf16_terms(int terms);
int bf16_terms();

}  // namespace slotlm::kernels::detail
