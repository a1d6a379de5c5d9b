// SPDX-License-Identifier: MIT
// Internal to src/kernels/isa: a 16 x 16 transpose of 32-bit elements in AVX-512 registers, shared
// by the AMX kernels (amx_gemm.cpp re-lays out weight blocks with it, amx_gemv.cpp activation
// tiles). Include only from sources compiled with the AVX-512 flags.
#pragma once

#include <immintrin.h>

namespace slotlm::kernels::detail {

// 16 x 16 transpose of 32-bit elements: r[j] lane c -> r[c] lane j.
inline void transpose16(__m512i* r) {
  __m512i t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  // u[4g + e], lane L: column 4L + e of rows 4g .. 4g + 3.
  for (int g = 0; g < 4; ++g) {
    u[4 * g + 0] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
    u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
    u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
    u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
  }
  // Column 4L + e = 128-bit lane L of u[e], u[4 + e], u[8 + e], u[12 + e].
  for (int e = 0; e < 4; ++e) {
    const __m512i lo01 = _mm512_shuffle_i32x4(u[e], u[4 + e], 0x44);
    const __m512i hi01 = _mm512_shuffle_i32x4(u[e], u[4 + e], 0xEE);
    const __m512i lo23 = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0x44);
    const __m512i hi23 = _mm512_shuffle_i32x4(u[8 + e], u[12 + e], 0xEE);
    r[e] = _mm512_shuffle_i32x4(lo01, lo23, 0x88);
    r[4 + e] = _mm512_shuffle_i32x4(lo01, lo23, 0xDD);
    r[8 + e] = _mm512_shuffle_i32x4(hi01, hi23, 0x88);
    r[12 + e] = _mm512_shuffle_i32x4(hi01, hi23, 0xDD);
  }
}

}  // namespace slotlm::kernels::detail
