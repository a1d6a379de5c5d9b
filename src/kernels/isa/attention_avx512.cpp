// SPDX-License-Identifier: MIT
// AVX-512 blocked prefill attention (compiled with the flags of kernels_avx512.cpp, see
// CMakeLists.txt): one AttentionBlock of up to 32 query rows of one KV head against its keys.
//
// Why it is faster than one gemv per (token, KV head): the block's 32 query rows share every key
// and value row load, and the layout avoids horizontal reductions. Q is transposed once per block
// (qt `[d_head, 32]`, pre-scaled by 1/sqrt(d_head)), so the scores of key j for all 32 rows,
// s[j] = sum_c k[j, c] * qt[c], are two vectors built by FMAs with a broadcast k element. In that
// transposed layout s `[n_keys, 32]` the softmax row max and row sum are lane-wise (vertical), and
// P.V is a register tile of 6 rows x 64 columns fed by broadcast probabilities and value rows.
// Equal to the row-by-row path up to f32 rounding: the 1/sqrt(d) scale is applied to q instead of
// to the dot products, sums run in another order, and exp is a polynomial (~2 ulp).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/isa/attention_blocked.h"
#include "kernels/isa/attention_tile_avx512.h"
#include "kernels/isa/exp_avx512.h"

namespace slotlm::kernels::detail {

namespace {

constexpr int64_t kLanes = 16;
constexpr int64_t kRowVecs = kBlockRows / kLanes;
static_assert(kRowVecs == 2, "score and softmax code below is written for two row vectors");
constexpr int kKeyTile = 8;       // keys per score tile: 16 accumulators
constexpr int kMixRows = 6;       // rows per P.V tile: 6 x 4 accumulators + 4 value vectors
constexpr int64_t kMixKeys = 64;  // keys per P.V chunk: 64 value rows of d_head 64 = 16 KB

inline __mmask16 tail_mask(int64_t n) { return __mmask16((1u << n) - 1u); }

// Scores of keys j0 .. j0 + J - 1 for all 32 rows: s[j * 32 + r] = sum_c k[j, c] * qt[c * 32 + r].
// Keys j >= n_keys of row r (lanes of `lim`) become -inf; `mx` keeps the running row max.
template <int J>
inline void score_tile(const float* qt, int64_t d, const float* kj, int64_t ldk, int64_t j0,
                       bool need_mask, const __m512i lim[2], float* s, __m512 mx[2]) {
  __m512 acc[J][2];
  for (int t = 0; t < J; ++t) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
  for (int64_t c = 0; c < d; ++c) {
    const __m512 q0 = _mm512_load_ps(qt + c * kBlockRows);
    const __m512 q1 = _mm512_load_ps(qt + c * kBlockRows + kLanes);
    for (int t = 0; t < J; ++t) {
      const __m512 kb = _mm512_set1_ps(kj[t * ldk + c]);
      acc[t][0] = _mm512_fmadd_ps(kb, q0, acc[t][0]);
      acc[t][1] = _mm512_fmadd_ps(kb, q1, acc[t][1]);
    }
  }
  store_scores<J>(acc, j0, need_mask, lim, s, mx);
}

// Which part of a row's P.V sum a mix_tile call adds.
struct KeyRange {
  int64_t j0, j1;    // keys [j0, j1)
  bool first, last;  // first: start from 0, not from o; last: scale by inv when done
};

// out rows o[t] (t < RT), columns [c0, c0 + 16 * CV) with the last vector masked by `mask`:
// o[t][c] (+)= sum_j p[j * 32 + t] * v[j, c] over keys [j0, j1), then * inv[t] after the last
// range. Keys a row may not see have p = 0. Partial sums stay in o between ranges (f32).
template <int RT, int CV>
void mix_tile(const float* p, const float* v, int64_t ldv, KeyRange kr, __mmask16 mask,
              const float* inv, float* const* o, int64_t c0) {
  __m512 acc[RT][CV];
  for (int t = 0; t < RT; ++t)
    for (int u = 0; u < CV; ++u)
      acc[t][u] = kr.first
                      ? _mm512_setzero_ps()
                      : _mm512_maskz_loadu_ps(u + 1 < CV ? 0xffff : mask, o[t] + c0 + u * kLanes);
  for (int64_t j = kr.j0; j < kr.j1; ++j) {
    const float* vj = v + j * ldv + c0;
    __m512 vv[CV];
    for (int u = 0; u + 1 < CV; ++u) vv[u] = _mm512_loadu_ps(vj + u * kLanes);
    vv[CV - 1] = _mm512_maskz_loadu_ps(mask, vj + (CV - 1) * kLanes);
    const float* pj = p + j * kBlockRows;
    for (int t = 0; t < RT; ++t) {
      const __m512 pb = _mm512_set1_ps(pj[t]);
      for (int u = 0; u < CV; ++u) acc[t][u] = _mm512_fmadd_ps(pb, vv[u], acc[t][u]);
    }
  }
  for (int t = 0; t < RT; ++t) {
    const __m512 sc = _mm512_set1_ps(kr.last ? inv[t] : 1.f);
    for (int u = 0; u + 1 < CV; ++u)
      _mm512_storeu_ps(o[t] + c0 + u * kLanes, _mm512_mul_ps(acc[t][u], sc));
    _mm512_mask_storeu_ps(o[t] + c0 + (CV - 1) * kLanes, mask, _mm512_mul_ps(acc[t][CV - 1], sc));
  }
}

template <int RT>
void mix_cols(int64_t cv, const float* p, const float* v, int64_t ldv, KeyRange kr, __mmask16 mask,
              const float* inv, float* const* o, int64_t c0) {
  switch (cv) {
    case 1:
      mix_tile<RT, 1>(p, v, ldv, kr, mask, inv, o, c0);
      break;
    case 2:
      mix_tile<RT, 2>(p, v, ldv, kr, mask, inv, o, c0);
      break;
    case 3:
      mix_tile<RT, 3>(p, v, ldv, kr, mask, inv, o, c0);
      break;
    default:
      mix_tile<RT, 4>(p, v, ldv, kr, mask, inv, o, c0);
      break;
  }
}

void mix(int64_t rt, int64_t cv, const float* p, const float* v, int64_t ldv, KeyRange kr,
         __mmask16 mask, const float* inv, float* const* o, int64_t c0) {
  switch (rt) {
    case 1:
      mix_cols<1>(cv, p, v, ldv, kr, mask, inv, o, c0);
      break;
    case 2:
      mix_cols<2>(cv, p, v, ldv, kr, mask, inv, o, c0);
      break;
    case 3:
      mix_cols<3>(cv, p, v, ldv, kr, mask, inv, o, c0);
      break;
    case 4:
      mix_cols<4>(cv, p, v, ldv, kr, mask, inv, o, c0);
      break;
    case 5:
      mix_cols<5>(cv, p, v, ldv, kr, mask, inv, o, c0);
      break;
    default:
      mix_cols<6>(cv, p, v, ldv, kr, mask, inv, o, c0);
      break;
  }
}

}  // namespace

void attention_block_avx512(const AttentionBlock& b) {
  const int64_t d = b.d_head, group = b.n_head / b.n_kv_head, ldk = b.n_kv_head * d;
  const int64_t n_rows = b.n_rows;
  // Per row: its output pointer and how many keys it sees; rows past n_rows copy the last row
  // (their q is 0 and their results are never stored).
  float* o[kBlockRows];
  alignas(64) int32_t lim[kBlockRows];
  block_rows(b, o, lim);
  const int64_t n_min = lim[0], n_max = lim[n_rows - 1];
  float* qt = block_scratch(size_t(d * kBlockRows + n_max * kBlockRows));  // [d, 32] then s [n_max, 32]
  float* s = qt + d * kBlockRows;

  const float scale = 1.f / std::sqrt(float(d));
  for (int64_t r = 0; r < kBlockRows; ++r) {
    if (r >= n_rows) {
      for (int64_t c = 0; c < d; ++c) qt[c * kBlockRows + r] = 0.f;
      continue;
    }
    const int64_t row = b.row0 + r, i = row / group;
    const float* qr = b.q + (i * b.n_head + b.g * group + row % group) * d;
    for (int64_t c = 0; c < d; ++c) qt[c * kBlockRows + r] = qr[c] * scale;
  }

  // Scores and row max; only key tiles reaching past the first row's limit need the causal mask.
  const __m512i lim_v[2] = {_mm512_load_si512(lim), _mm512_load_si512(lim + kLanes)};
  __m512 mx[2] = {_mm512_set1_ps(-INFINITY), _mm512_set1_ps(-INFINITY)};
  const float* kg = b.k + b.g * d;
  int64_t j = 0;
  for (; j + kKeyTile <= n_max; j += kKeyTile)
    score_tile<kKeyTile>(qt, d, kg + j * ldk, ldk, j, j + kKeyTile > n_min, lim_v,
                         s + j * kBlockRows, mx);
  for (; j < n_max; ++j)
    score_tile<1>(qt, d, kg + j * ldk, ldk, j, j + 1 > n_min, lim_v, s + j * kBlockRows, mx);

  // p = exp(s - max) in place; 1 / row sum.
  __m512 sum[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  for (j = 0; j < n_max; ++j)
    for (int h = 0; h < 2; ++h) {
      float* sj = s + j * kBlockRows + h * kLanes;
      const __m512 e = exp_nonpositive_or_zero(_mm512_sub_ps(_mm512_load_ps(sj), mx[h]));
      _mm512_store_ps(sj, e);
      sum[h] = _mm512_add_ps(sum[h], e);
    }
  alignas(64) float inv[kBlockRows];
  for (int h = 0; h < 2; ++h)
    _mm512_store_ps(inv + h * kLanes, _mm512_div_ps(_mm512_set1_ps(1.f), sum[h]));

  // P.V in row tiles of near-equal size (<= 6), each over the keys its last row sees, in chunks
  // of kMixKeys keys so that a chunk of value rows stays in L1 while every row tile uses it.
  const float* vg = b.v + b.g * d;
  int64_t tile_r0[kBlockRows + 1];
  const int64_t n_tiles = split_row_tiles(n_rows, kMixRows, tile_r0);
  for (int64_t j0 = 0; j0 < n_max; j0 += kMixKeys)
    for (int64_t t = 0; t < n_tiles; ++t) {
      const int64_t r0 = tile_r0[t], rt = tile_r0[t + 1] - r0, n_j = lim[r0 + rt - 1];
      if (j0 >= n_j) continue;
      const KeyRange kr{j0, std::min(j0 + kMixKeys, n_j), j0 == 0, j0 + kMixKeys >= n_j};
      for (int64_t c0 = 0; c0 < d; c0 += 4 * kLanes) {
        const int64_t cv = std::min<int64_t>(4, (d - c0 + kLanes - 1) / kLanes);
        const int64_t rem = d - c0 - (cv - 1) * kLanes;
        const __mmask16 mask = rem >= kLanes ? __mmask16(0xffff) : tail_mask(rem);
        mix(rt, cv, s + r0, vg, ldk, kr, mask, inv + r0, o + r0, c0);
      }
    }
}

}  // namespace slotlm::kernels::detail
