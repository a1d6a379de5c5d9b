// SPDX-License-Identifier: MIT
// Blocked prefill attention on AVX512-BF16 dot products (compiled with -mavx512bf16, see
// CMakeLists.txt), for the `fast` precision on CPUs without AMX: the structure of
// attention_avx512.cpp (32 query rows per block, scores transposed `[keys, 32]`, lane-wise softmax,
// P.V in register tiles), with q, K, V and the probabilities rounded to bf16 as on AMX. One
// VDPBF16PS does two steps of the f32 kernel's FMAs: the scores take pairs of q/k columns, P.V
// pairs of keys.
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
constexpr int kKeyTile = 8;       // keys per score tile: 16 accumulators
constexpr int kMixRows = 6;       // rows per P.V tile: 6 x 4 accumulators + 4 value vectors
constexpr int64_t kMixKeys = 64;  // keys per P.V chunk (even: whole pairs)

// 16 f32 lanes as bf16 in the low halves of 32-bit lanes (round to nearest even).
inline __m512i bf16_lanes(__m512 x) { return _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(x)); }

// Pairs (lo[i], hi[i]) of bf16 in 32-bit lanes: lo in the low half, as VDPBF16PS pairs them.
inline __m512i bf16_pairs(__m512 lo, __m512 hi) {
  return _mm512_or_si512(bf16_lanes(lo), _mm512_slli_epi32(bf16_lanes(hi), 16));
}

// Scores of keys j0 .. j0 + J - 1 for all 32 rows, as score_tile in attention_avx512.cpp, from q
// as pairs `q2[p * 32 + r]` and K rows of bf16 `kj` (d_head elements each).
template <int J>
inline void score_tile(const int32_t* q2, int64_t pairs, const uint16_t* kj, int64_t d, int64_t j0, bool need_mask,
                       const __m512i lim[2], float* s, __m512 mx[2]) {
  __m512 acc[J][2];
  for (int t = 0; t < J; ++t) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
  const auto* k32 = reinterpret_cast<const int32_t*>(kj);
  for (int64_t p = 0; p < pairs; ++p) {
    const __m512bh q0 = (__m512bh)_mm512_load_si512(q2 + p * kBlockRows);
    const __m512bh q1 = (__m512bh)_mm512_load_si512(q2 + p * kBlockRows + kLanes);
    for (int t = 0; t < J; ++t) {
      const __m512bh kb = (__m512bh)_mm512_set1_epi32(k32[t * (d / 2) + p]);
      acc[t][0] = _mm512_dpbf16_ps(acc[t][0], q0, kb);
      acc[t][1] = _mm512_dpbf16_ps(acc[t][1], q1, kb);
    }
  }
  store_scores<J>(acc, j0, need_mask, lim, s, mx);
}

// out rows o[t] (t < RT), columns [c0, c0 + 16 * CV): o[t][c] (+)= sum over key pairs [i0, i1) of
// p2[i * 32 + t] . (v[2i, c], v[2i + 1, c]), then * inv[t] after the last range (`last`).
template <int RT, int CV>
void mix_tile(const int32_t* p2, const uint16_t* vp, int64_t d, int64_t i0, int64_t i1, bool first, bool last,
              const float* inv, float* const* o, int64_t c0) {
  __m512 acc[RT][CV];
  for (int t = 0; t < RT; ++t)
    for (int u = 0; u < CV; ++u) acc[t][u] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(o[t] + c0 + u * kLanes);
  for (int64_t i = i0; i < i1; ++i) {
    const uint16_t* vi = vp + i * 2 * d + 2 * c0;
    __m512bh vv[CV];
    for (int u = 0; u < CV; ++u) vv[u] = (__m512bh)_mm512_loadu_si512(vi + u * 2 * kLanes);
    for (int t = 0; t < RT; ++t) {
      const __m512bh pb = (__m512bh)_mm512_set1_epi32(p2[i * kBlockRows + t]);
      for (int u = 0; u < CV; ++u) acc[t][u] = _mm512_dpbf16_ps(acc[t][u], vv[u], pb);
    }
  }
  for (int t = 0; t < RT; ++t) {
    const __m512 sc = _mm512_set1_ps(last ? inv[t] : 1.f);
    for (int u = 0; u < CV; ++u) _mm512_storeu_ps(o[t] + c0 + u * kLanes, _mm512_mul_ps(acc[t][u], sc));
  }
}

template <int RT>
void mix_cols(int64_t cv, const int32_t* p2, const uint16_t* vp, int64_t d, int64_t i0, int64_t i1, bool first,
              bool last, const float* inv, float* const* o, int64_t c0) {
  if (cv == 2)
    mix_tile<RT, 2>(p2, vp, d, i0, i1, first, last, inv, o, c0);
  else
    mix_tile<RT, 4>(p2, vp, d, i0, i1, first, last, inv, o, c0);
}

void mix(int64_t rt, int64_t cv, const int32_t* p2, const uint16_t* vp, int64_t d, int64_t i0, int64_t i1,
         bool first, bool last, const float* inv, float* const* o, int64_t c0) {
  switch (rt) {
    case 1: mix_cols<1>(cv, p2, vp, d, i0, i1, first, last, inv, o, c0); break;
    case 2: mix_cols<2>(cv, p2, vp, d, i0, i1, first, last, inv, o, c0); break;
    case 3: mix_cols<3>(cv, p2, vp, d, i0, i1, first, last, inv, o, c0); break;
    case 4: mix_cols<4>(cv, p2, vp, d, i0, i1, first, last, inv, o, c0); break;
    case 5: mix_cols<5>(cv, p2, vp, d, i0, i1, first, last, inv, o, c0); break;
    default: mix_cols<6>(cv, p2, vp, d, i0, i1, first, last, inv, o, c0); break;
  }
}

}  // namespace

void dot_pack_kv(const float* k, const float* v, int64_t n_keys, int64_t n_kv_head, int64_t d_head, uint16_t* kp,
                 uint16_t* vp) {
  const int64_t keys = (n_keys + 31) / 32 * 32, ld = n_kv_head * d_head;
#pragma omp parallel for schedule(static) if (n_keys * ld >= (1 << 16))
  for (int64_t g = 0; g < n_kv_head; ++g) {
    for (int64_t j = 0; j < keys; ++j)
      for (int64_t c = 0; c < d_head; c += kLanes) {
        const __m512 x = j < n_keys ? _mm512_loadu_ps(k + j * ld + g * d_head + c) : _mm512_setzero_ps();
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(kp + (g * keys + j) * d_head + c),
                            (__m256i)_mm512_cvtneps_pbh(x));
      }
    for (int64_t i = 0; i < keys / 2; ++i)
      for (int64_t c = 0; c < d_head; c += kLanes) {
        const int64_t j = 2 * i;
        const __m512 lo = j < n_keys ? _mm512_loadu_ps(v + j * ld + g * d_head + c) : _mm512_setzero_ps();
        const __m512 hi = j + 1 < n_keys ? _mm512_loadu_ps(v + (j + 1) * ld + g * d_head + c) : _mm512_setzero_ps();
        _mm512_storeu_si512(vp + (g * keys / 2 + i) * 2 * d_head + 2 * c, bf16_pairs(lo, hi));
      }
  }
}

void attention_block_dot(const AttentionBlock& b) {
  const int64_t d = b.d_head, group = b.n_head / b.n_kv_head, pairs = d / 2;
  const int64_t n_rows = b.n_rows, keys = b.kv_blocks * 32;
  float* o[kBlockRows];
  alignas(64) int32_t lim[kBlockRows];
  block_rows(b, o, lim);
  const int64_t n_min = lim[0], n_max = lim[n_rows - 1], n_pairs = (n_max + 1) / 2;
  // q2 `[pairs, 32]` pairs of bf16, s `[n_max, 32]` f32, p2 `[n_pairs, 32]` pairs of bf16.
  float* buf = block_scratch(size_t(pairs * kBlockRows + n_max * kBlockRows + n_pairs * kBlockRows));
  auto* q2 = reinterpret_cast<int32_t*>(buf);
  float* s = buf + pairs * kBlockRows;
  auto* p2 = reinterpret_cast<int32_t*>(s + n_max * kBlockRows);

  const float scale = 1.f / std::sqrt(float(d));
  alignas(64) float qt[2][kBlockRows];  // one pair of columns of the scaled q, transposed
  for (int64_t p = 0; p < pairs; ++p) {
    for (int64_t r = 0; r < kBlockRows; ++r) {
      if (r >= n_rows) {
        qt[0][r] = qt[1][r] = 0.f;
        continue;
      }
      const int64_t row = b.row0 + r, i = row / group;
      const float* qr = b.q + (i * b.n_head + b.g * group + row % group) * d;
      qt[0][r] = qr[2 * p] * scale;
      qt[1][r] = qr[2 * p + 1] * scale;
    }
    for (int h = 0; h < 2; ++h)
      _mm512_store_si512(q2 + p * kBlockRows + h * kLanes,
                         bf16_pairs(_mm512_load_ps(qt[0] + h * kLanes), _mm512_load_ps(qt[1] + h * kLanes)));
  }

  const __m512i lim_v[2] = {_mm512_load_si512(lim), _mm512_load_si512(lim + kLanes)};
  __m512 mx[2] = {_mm512_set1_ps(-INFINITY), _mm512_set1_ps(-INFINITY)};
  const uint16_t* kg = b.kp + b.g * keys * d;
  int64_t j = 0;
  for (; j + kKeyTile <= n_max; j += kKeyTile)
    score_tile<kKeyTile>(q2, pairs, kg + j * d, d, j, j + kKeyTile > n_min, lim_v, s + j * kBlockRows, mx);
  for (; j < n_max; ++j) score_tile<1>(q2, pairs, kg + j * d, d, j, j + 1 > n_min, lim_v, s + j * kBlockRows, mx);

  // p = exp(s - max), 1 / row sum, and p as pairs of keys in bf16 (a missing last key is 0).
  __m512 sum[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int64_t i = 0; i < n_pairs; ++i)
    for (int h = 0; h < 2; ++h) {
      __m512 e[2];
      for (int l = 0; l < 2; ++l) {
        const int64_t jj = 2 * i + l;
        e[l] = jj < n_max ? exp_nonpositive_or_zero(_mm512_sub_ps(_mm512_load_ps(s + jj * kBlockRows + h * kLanes), mx[h]))
                          : _mm512_setzero_ps();
        sum[h] = _mm512_add_ps(sum[h], e[l]);
      }
      _mm512_store_si512(p2 + i * kBlockRows + h * kLanes, bf16_pairs(e[0], e[1]));
    }
  alignas(64) float inv[kBlockRows];
  for (int h = 0; h < 2; ++h) _mm512_store_ps(inv + h * kLanes, _mm512_div_ps(_mm512_set1_ps(1.f), sum[h]));

  // P.V in row tiles of near-equal size (<= 6), each over the key pairs its last row sees, in
  // chunks of kMixKeys keys.
  const uint16_t* vg = b.vp + b.g * keys * d;
  int64_t tile_r0[kBlockRows + 1];
  const int64_t n_tiles = split_row_tiles(n_rows, kMixRows, tile_r0);
  for (int64_t j0 = 0; j0 < n_max; j0 += kMixKeys)
    for (int64_t t = 0; t < n_tiles; ++t) {
      const int64_t r0 = tile_r0[t], rt = tile_r0[t + 1] - r0, n_j = lim[r0 + rt - 1];
      if (j0 >= n_j) continue;
      const int64_t j1 = std::min(j0 + kMixKeys, n_j);
      for (int64_t c0 = 0; c0 < d; c0 += 4 * kLanes) {
        const int64_t cv = std::min<int64_t>(4, (d - c0) / kLanes);
        mix(rt, cv, p2 + r0, vg, d, j0 / 2, (j1 + 1) / 2, j0 == 0, j0 + kMixKeys >= n_j, inv + r0, o + r0, c0);
      }
    }
}

}  // namespace slotlm::kernels::detail
