// SPDX-License-Identifier: MIT
// Internal to src/kernels/isa: f32 -> bf16 rounding and the bf16 term split on AVX-512, shared by
// kernels_avx512.cpp (f32_to_bf16), amx_gemm.cpp (the fused SwiGLU epilogue) and amx_gemv.cpp (the
// packed activations), so all round bit for bit alike. Include only from AVX-512-flagged sources.
#pragma once

#include <immintrin.h>

namespace slotlm::kernels::detail {

// Round to nearest even with integer arithmetic, exactly as core's f32_to_bf16 (NaN -> quiet NaN,
// subnormals rounded, not flushed as vcvtneps2bf16 would).
inline __m256i narrow_bf16(__m512 v) {
  const __m512i bits = _mm512_castps_si512(v);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
  const __m512i rounded = _mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
  const __m512i abs = _mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff));
  const __mmask16 nan = _mm512_cmpgt_epu32_mask(abs, _mm512_set1_epi32(0x7f800000));
  const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(0x40));
  return _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, _mm512_srli_epi32(rounded, 16), quiet));
}

// 16 bf16 -> 16 f32 (exact).
inline __m512 widen_bf16(__m256i b) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(b), 16)); }

// One step of the bf16 term split (split_bf16_terms): returns the bf16 rounding of `rest` and leaves
// in `rest` what that rounding misses (exact, by Sterbenz), for the next term.
inline __m256i next_bf16_term(__m512& rest) {
  const __m256i b = narrow_bf16(rest);
  rest = _mm512_sub_ps(rest, widen_bf16(b));
  return b;
}

}  // namespace slotlm::kernels::detail
