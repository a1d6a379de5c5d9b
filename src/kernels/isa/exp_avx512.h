// SPDX-License-Identifier: MIT
// Internal to src/kernels/isa: the AVX-512 exp used by kernels_avx512.cpp and attention_avx512.cpp.
// Include it only from sources compiled with the AVX-512 flags (src/kernels/CMakeLists.txt).
#pragma once

#include <immintrin.h>

namespace slotlm::kernels::detail {

// exp(x) for x <= 0: x = n ln2 + r with |r| <= ln2/2 (ln2 split hi + lo), e^r by its degree-7
// Taylor polynomial (truncation < 2e-9 relative, ~2 ulp against std::exp), scaled by 2^n with
// vscalefps. Arguments are clamped at -87.3, so those below give ~1e-38, not exp(x) (the f32
// subnormal range is not reproduced; softmax weights that small do not matter).
inline __m512 exp_nonpositive(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.3f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
  __m512 p = _mm512_set1_ps(1.f / 5040);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 720));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(p, n);
}

// As exp_nonpositive, but exactly 0 below -87.3 (masked scores of -inf give 0).
inline __m512 exp_nonpositive_or_zero(__m512 x) {
  const __mmask16 live = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3f), _CMP_GE_OQ);
  return _mm512_maskz_mov_ps(live, exp_nonpositive(x));
}

}  // namespace slotlm::kernels::detail
