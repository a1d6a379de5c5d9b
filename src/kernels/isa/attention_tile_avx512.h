// SPDX-License-Identifier: MIT
// Internal to src/kernels/isa: pieces shared by the blocked prefill attention kernels
// (attention_avx512.cpp in f32, attention_dot_avx512.cpp on bf16 dot products). Include only from
// AVX-512-flagged sources.
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "kernels/isa/attention_blocked.h"

namespace slotlm::kernels::detail {

// The end of a score tile: scores acc[t][h] of key j0 + t for rows 16 h .. 16 h + 15 stored as
// s[t * 32 + 16 h + lane]; keys a row may not see (j0 + t >= lim of its lane, when `need_mask`)
// become -inf; `mx` keeps the running row max.
template <int J>
inline void store_scores(__m512 (&acc)[J][2], int64_t j0, bool need_mask, const __m512i lim[2], float* s,
                         __m512 mx[2]) {
  const __m512 neg_inf = _mm512_set1_ps(-INFINITY);
  for (int t = 0; t < J; ++t)
    for (int h = 0; h < 2; ++h) {
      __m512 a = acc[t][h];
      if (need_mask) {
        const __mmask16 keep = _mm512_cmpgt_epi32_mask(lim[h], _mm512_set1_epi32(int(j0 + t)));
        a = _mm512_mask_blend_ps(keep, neg_inf, a);
      }
      mx[h] = _mm512_max_ps(mx[h], a);
      _mm512_store_ps(s + t * kBlockRows + h * 16, a);
    }
}

// Splits n_rows rows into n_tiles = ceil(n_rows / max_rows) P.V row tiles of near-equal size:
// tile t is rows [r0[t], r0[t + 1]). Returns n_tiles; r0 holds n_tiles + 1 entries.
inline int64_t split_row_tiles(int64_t n_rows, int64_t max_rows, int64_t* r0) {
  const int64_t n_tiles = (n_rows + max_rows - 1) / max_rows;
  for (int64_t t = 0, r = 0; t <= n_tiles; ++t) {
    r0[t] = r;
    if (t < n_tiles) r += (n_rows - r) / (n_tiles - t);
  }
  return n_tiles;
}

}  // namespace slotlm::kernels::detail
