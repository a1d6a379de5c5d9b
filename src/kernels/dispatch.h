// SPDX-License-Identifier: MIT
// Run-time CPU dispatch for slotlm's own kernels (kernels layer): one function-pointer table per
// instruction set, each filled by a source compiled with that ISA's flags (isa/*.cpp, ref/*.cpp).
// Depends on core only. Model code never sees ISA details; it calls matmul/attention/ops.
#pragma once

#include <cstdint>
#include <string_view>

namespace slotlm::kernels {

enum class Isa { kScalar, kAvx2, kAvx512 };

std::string_view isa_name(Isa isa);
// Parses "scalar", "avx2" or "avx512"; returns false for anything else.
bool parse_isa(std::string_view name, Isa* out);
// True when this build has a table for `isa` and the CPU (and OS) can run it.
bool isa_supported(Isa isa);
// The best supported ISA, ignoring any override.
Isa detect_isa();

// The ISA in use: `SLOTLM_ISA` (scalar|avx2|avx512) if set and supported, otherwise detect_isa().
// Chosen once, on the first kernel call, and logged once at info level.
Isa active_isa();
// Overrides the ISA for all later kernel calls (tests, benchmarks). Fails if !isa_supported(isa).
// Not thread-safe with respect to kernels running at the same time.
void set_isa(Isa isa);

// Per-ISA kernels. All pointers are non-null; inputs have no alignment requirement.
// Weight rows `w` are `[rows, k]` row-major with the table entry's element type.
struct KernelTable {
  // y[i * ldy + r] = dot(x[i * k .. +k], w[r * ldw .. +k]) + (bias ? bias[r] : 0), r < rows, i < n.
  // x `[n, k]` f32, w `[rows, k]` with row stride `ldw` >= k. Accumulates in f32, weights widened
  // exactly to f32 (x is never rounded).
  void (*gemv_f32)(const float* x, int64_t n, const float* w, int64_t rows, int64_t k, int64_t ldw,
                   const float* bias, float* y, int64_t ldy);
  void (*gemv_bf16)(const float* x, int64_t n, const uint16_t* w, int64_t rows, int64_t k,
                    int64_t ldw, const float* bias, float* y, int64_t ldy);
  void (*gemv_f16)(const float* x, int64_t n, const uint16_t* w, int64_t rows, int64_t k,
                   int64_t ldw, const float* bias, float* y, int64_t ldy);
  // y[j] += a * w[j], j < n, with `w` f32 / bf16 / f16 (widened exactly).
  void (*axpy_f32)(float a, const float* w, int64_t n, float* y);
  void (*axpy_bf16)(float a, const uint16_t* w, int64_t n, float* y);
  void (*axpy_f16)(float a, const uint16_t* w, int64_t n, float* y);
  // sum_i a[i] * b[i] in f32.
  float (*dot_f32)(const float* a, const float* b, int64_t n);
  // max_j x[j] (n >= 1).
  float (*max_f32)(const float* x, int64_t n);
  // out[j] = exp((x[j] - shift) * scale), returns sum_j out[j]; `out` may alias `x`. For softmax:
  // arguments <= 0, results within ~2 ulp of std::exp (SIMD tables use a polynomial).
  float (*exp_sum)(const float* x, int64_t n, float shift, float scale, float* out);
  // out[t * ldo + c] = sum_j p[t * ldp + j] * v[j * ldv + c], t < n, j < n_keys, c < d: the
  // attention "probabilities times values" product for `n` query rows sharing one value head.
  void (*mix_rows)(const float* p, int64_t n, int64_t ldp, const float* v, int64_t n_keys,
                   int64_t ldv, int64_t d, float* out, int64_t ldo);
  // Exact widening conversions to f32, and round-to-nearest-even f32 -> bf16.
  void (*bf16_to_f32)(const uint16_t* src, int64_t n, float* dst);
  void (*f16_to_f32)(const uint16_t* src, int64_t n, float* dst);
  void (*f32_to_bf16)(const float* src, int64_t n, uint16_t* dst);
  // out[i] = silu(gate[i]) * up[i] = gate[i] / (1 + exp(-gate[i])) * up[i], i < n; `out` may alias
  // `gate` or `up`. Finite for all finite inputs (silu(-100) = -0, silu(100) = 100); NaN stays NaN.
  // SIMD tables use their own exp: within a few ulp of the scalar table, except that results below
  // ~1e-35 in magnitude (gate < -87.3) come out as 0.
  void (*silu_mul)(const float* gate, const float* up, int64_t n, float* out);
  // y[j] += sum_{r < rows} x[r] * w[r * ldw + j], j < k, rows added one after another in order
  // (each a fused multiply-add per element, so the result equals `rows` axpy calls bit for bit;
  // rows with x[r] == 0 may be skipped). The transposed product W^T x of SLOT's gradient.
  void (*gemv_t_f32)(const float* x, const float* w, int64_t rows, int64_t k, int64_t ldw, float* y);
  void (*gemv_t_bf16)(const float* x, const uint16_t* w, int64_t rows, int64_t k, int64_t ldw, float* y);
  void (*gemv_t_f16)(const float* x, const uint16_t* w, int64_t rows, int64_t k, int64_t ldw, float* y);
};

// The table of the active ISA.
const KernelTable& kernel_table();
// The table of a given ISA (tests compare tables); fails if !isa_supported(isa).
const KernelTable& kernel_table(Isa isa);

}  // namespace slotlm::kernels
