// SPDX-License-Identifier: MIT
// Element-wise and row-wise kernels on f32 activations (kernels layer): RMSNorm, RoPE, SiLU*mul,
// softmax, argmax. Pure functions, no model knowledge; depends on core only.
#pragma once

#include <cstdint>

namespace slotlm::kernels {

// out[i, :] = w * x[i, :] / sqrt(mean(x[i, :]^2) + eps), x/out `[n, d]`, w `[d]`.
// Matches HF LlamaRMSNorm/Qwen2RMSNorm in f32 (variance in f32, weight applied after).
// `out` may alias `x`. Rows run in parallel (OpenMP) when n * d is large; each row's result does
// not depend on n or on threading.
void rmsnorm(const float* x, const float* w, float eps, int64_t n, int64_t d, float* out);

// out[i] = silu(gate[i]) * up[i] for i < n, through KernelTable::silu_mul of the active ISA;
// `out` may alias either input. Large n (prefill) runs in parallel chunks (OpenMP).
void silu_mul(const float* gate, const float* up, int64_t n, float* out);

// In-place softmax of `x[n]`; returns log(sum(exp(x - max))) + max (the log-normaliser).
double softmax_inplace(float* x, int64_t n);

// out[i] = exp(x[i] - shift) for x[i] <= shift (softmax numerators, shift = the row maximum);
// returns their f32 sum. SIMD polynomial, a few ulp from std::exp; values below ~1e-38 become 0.
// `out` may alias `x`. Single-threaded (callers thread over rows).
float exp_shifted(const float* x, int64_t n, float shift, float* out);

// max_i x[i] (n >= 1).
float max_value(const float* x, int64_t n);

// Index of the largest `x[i]` (first one on ties).
int64_t argmax(const float* x, int64_t n);

// cos/sin `[d_head/2]` of the angles `pos * inv_freq[i]` for the HF rotate-half RoPE.
void rope_angles(const double* inv_freq, int64_t half, int64_t pos, float* cos_out, float* sin_out);

// Applies HF rotate-half RoPE in place to `x` `[n_head, d_head]` of one token, with `cos`/`sin`
// `[d_head/2]` from rope_angles: x1' = x1*cos - x2*sin, x2' = x2*cos + x1*sin, x1 = x[:d/2], x2 = x[d/2:].
void rope_apply(float* x, int64_t n_head, int64_t d_head, const float* cos, const float* sin);

// rope_apply for `n_tok` tokens: token t's heads `[n_head, d_head]` start at `x + t * ld`
// (ld >= n_head * d_head; the rest of a row is left alone) and use `cos`/`sin` `[n_tok, d_head/2]`
// row t. Tokens run in parallel (OpenMP) when the batch is large; results equal a rope_apply loop.
void rope_apply_rows(float* x, int64_t n_tok, int64_t ld, int64_t n_head, int64_t d_head,
                     const float* cos, const float* sin);

}  // namespace slotlm::kernels
