// SPDX-License-Identifier: MIT
// Internal to src/kernels/isa: horizontal sums of accumulators in one fixed order, shared by the FMA
// gemv (kernels_avx512.cpp) and the bf16 dot-product gemv (dot_gemv_avx512.cpp), so a row's result
// does not depend on how many rows shared its tile. Include only from AVX-512-flagged sources.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace slotlm::kernels::detail {

// The 16 horizontal sums of v[0..15], as out[4 L + q] = sum(v[4 q + L]), with each sum taken in
// _mm512_reduce_add_ps's order (halves 8, 4, 2, 1 folded in turn), so a row's result does not
// depend on how many activation rows shared its tile. 45 vector operations instead of ~130.
inline __m512 reduce16(const __m512* v) {
  __m512 u[8], w[4], x[2];
  for (int p = 0; p < 8; ++p)  // 256-bit halves: [v0 lo | v1 lo] + [v0 hi | v1 hi]
    u[p] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], 0x44),
                         _mm512_shuffle_f32x4(v[2 * p], v[2 * p + 1], 0xEE));
  for (int q = 0; q < 4; ++q)  // 128-bit halves: 128-bit lane L of w[q] is v[4 q + L] folded to 4
    w[q] = _mm512_add_ps(_mm512_shuffle_f32x4(u[2 * q], u[2 * q + 1], 0x88),
                         _mm512_shuffle_f32x4(u[2 * q], u[2 * q + 1], 0xDD));
  for (int s = 0; s < 2; ++s)  // pairs 2 apart within each 128-bit lane
    x[s] = _mm512_add_ps(_mm512_shuffle_ps(w[2 * s], w[2 * s + 1], 0x44),
                         _mm512_shuffle_ps(w[2 * s], w[2 * s + 1], 0xEE));
  return _mm512_add_ps(_mm512_shuffle_ps(x[0], x[1], 0x88), _mm512_shuffle_ps(x[0], x[1], 0xDD));
}

// The epilogue of an R x T gemv tile (R weight rows, T rows of x): y[t * ldy + r] = sum(acc[r][t])
// (+ bias[r]), each sum in _mm512_reduce_add_ps's order. A 4 x 4 tile (batched decode) goes through
// one reduce16 (in one process, alternating, 8 sequences of 0.5B decoded at 71.1 vs 77.6 and 73.0
// vs 75.6 ms per step with it); the same bits either way.
template <int R, int T>
inline void store_tile_sums(__m512 (&acc)[R][T], const float* bias, float* y, int64_t ldy) {
  if constexpr (R == 4 && T == 4) {
    alignas(64) float sums[16];
    _mm512_store_ps(sums, reduce16(&acc[0][0]));
    for (int r = 0; r < R; ++r) {
      const float b = bias ? bias[r] : 0.f;
      for (int t = 0; t < T; ++t) y[t * ldy + r] = sums[4 * t + r] + b;
    }
    return;
  }
  for (int r = 0; r < R; ++r) {
    const float b = bias ? bias[r] : 0.f;
    for (int t = 0; t < T; ++t) y[t * ldy + r] = _mm512_reduce_add_ps(acc[r][t]) + b;
  }
}


}  // namespace slotlm::kernels::detail
