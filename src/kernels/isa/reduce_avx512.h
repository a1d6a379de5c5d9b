// SPDX-License-Identifier: MIT
// Internal to src/kernels/isa: horizontal sums of accumulators in one fixed order, shared by the FMA
// gemv (kernels_avx512.cpp) and the bf16 dot-product gemv (dot_gemv_avx512.cpp), so a row's result
// does not depend on how many rows shared its tile. Include only from AVX-512-flagged sources.
#pragma once

#include <immintrin.h>

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

}  // namespace slotlm::kernels::detail
