// SPDX-License-Identifier: MIT
// AMX-BF16 blocked prefill attention for the `fast` precision (bf16 products, as PyTorch's bf16
// model computes attention). Compiled with -mamx-tile -mamx-bf16 -mavx512bf16 and the AVX-512
// flags; called only after amx_attention_available().
//
// Per call, K and V of every KV head are rounded to bf16 once and laid out as the second operand
// of TDPBF16PS (amx_pack_kv): K in blocks of 32 keys exactly like a weight block of the AMX GEMM
// (keys are the "features", d_head the reduction), V as pairs of keys x 16 columns. Per block of
// 32 query rows of one KV head (attention_block_amx):
//   S [32, n_keys] = (q / sqrt(d)) K^T   tiles: 2 row tiles x 2 key tiles per 32 keys, f32
//   P = exp(S - row max) over the keys each row sees, rounded to bf16; 1 / row sum in f32
//   O [32, d] = P V / row sum              tiles: 2 row tiles x 2 column tiles per 32 columns
// Products of bf16 accumulate in f32 in the tiles; the softmax runs in f32 on AVX-512.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/aligned.h"
#include "kernels/isa/amx_gemm.h"
#include "kernels/isa/amx_intrinsics.h"
#include "kernels/isa/attention_blocked.h"

namespace slotlm::kernels::detail {

namespace {

constexpr int64_t kLanes = 16;

// The first min(left, 16) lanes (left >= 1).
inline __mmask16 first_lanes(int64_t left) { return left >= kLanes ? __mmask16(0xffff) : __mmask16((1u << left) - 1u); }

// 16 f32 -> 16 bf16 (round to nearest even), zero-extended into the low halves of 32-bit lanes.
inline __m512i bf16_lo(__m512 x) { return _mm512_cvtepu16_epi32(reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(x))); }

// exp(x) for x <= 0 to ~3e-6 relative, enough for probabilities that are rounded to bf16 (2^-9):
// x = n ln2 + r, |r| <= ln2 / 2, e^r by its degree-5 Taylor polynomial (truncation < 2.4e-6),
// scaled by 2^n; below -87.3 the result is 0 (masked scores of -inf give 0).
inline __m512 exp_for_bf16(__m512 x) {
  const __mmask16 live = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3f), _CMP_GE_OQ);
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.3f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693147180559945f), x);
  __m512 p = _mm512_set1_ps(1.f / 120);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_maskz_scalef_ps(live, p, n);
}

// 64-byte aligned per-thread scratch of at least n elements, kept across calls.
template <typename T, int kSlot>
T* scratch(size_t n) {
  thread_local AlignedVector<T> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

// C tiles 0..3 = 0; then over `chunks` steps: C0 += A0 B0, C1 += A0 B1, C2 += A1 B0, C3 += A1 B1
// with A0 = a + step * a_step (16 rows, stride lda bytes), A1 16 rows below, B0 / B1 at
// b + step * b_step and + b_half (stride 64 bytes). Loads right before their first product.
inline void tile_products(const uint16_t* a, int64_t lda_bytes, int64_t a_step, int64_t a_rows16,
                          const uint16_t* b, int64_t b_step, int64_t b_half, int64_t chunks) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t c = 0; c < chunks; ++c) {
    const uint16_t* ac = a + c * a_step;
    const uint16_t* bc = b + c * b_step;
    _tile_loadd(4, ac, lda_bytes);
    _tile_loadd(6, bc, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_loadd(7, bc + b_half, 64);
    _tile_dpbf16ps(1, 4, 7);
    _tile_loadd(5, ac + a_rows16, lda_bytes);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
}

}  // namespace

bool amx_attention_available() {
  static const bool ok = amx_available() && __builtin_cpu_supports("avx512bf16");
  return ok;
}

void amx_pack_kv(const float* k, const float* v, int64_t n_keys, int64_t n_kv_head, int64_t d,
                 uint16_t* kp, uint16_t* vp) {
  const int64_t blocks = (n_keys + 31) / 32, ld = n_kv_head * d, per_head = blocks * 32 * d;
#pragma omp parallel for schedule(static) if (n_keys * n_kv_head * d >= (1 << 15))
  for (int64_t item = 0; item < n_kv_head * blocks; ++item) {
    const int64_t g = item / blocks, kb = item % blocks, j0 = kb * 32;
    const int64_t keys = std::min<int64_t>(32, n_keys - j0);
    // K: the block's rows as bf16 (zero past n_keys), then the GEMM's weight-block layout.
    uint16_t* rows = scratch<uint16_t, 0>(size_t(32 * d));
    for (int64_t j = 0; j < 32; ++j) {
      uint16_t* dst = rows + j * d;
      if (j >= keys) {
        std::memset(dst, 0, size_t(d) * sizeof(uint16_t));
        continue;
      }
      const float* src = k + (j0 + j) * ld + g * d;
      for (int64_t c = 0; c < d; c += kLanes)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + c),
                            reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(_mm512_loadu_ps(src + c))));
    }
    amx_pack_weights(rows, d, 0, 0, d, kp + g * per_head + kb * 32 * d);
    // V: tile (kb, column group cg) row p = columns 16 cg .. 16 cg + 15 of keys j0 + 2p, j0 + 2p + 1
    // as bf16 pairs.
    uint16_t* vb = vp + g * per_head + kb * 32 * d;
    for (int64_t cg = 0; cg < d / kLanes; ++cg)
      for (int64_t p = 0; p < 16; ++p) {
        const int64_t ja = 2 * p, jb = 2 * p + 1;
        const __m512 a = ja < keys ? _mm512_loadu_ps(v + (j0 + ja) * ld + g * d + cg * kLanes) : _mm512_setzero_ps();
        const __m512 b = jb < keys ? _mm512_loadu_ps(v + (j0 + jb) * ld + g * d + cg * kLanes) : _mm512_setzero_ps();
        const __m512i pair = _mm512_or_si512(bf16_lo(a), _mm512_slli_epi32(bf16_lo(b), 16));
        _mm512_storeu_si512(vb + (cg * 16 + p) * 32, pair);
      }
  }
}

void attention_block_amx(const AttentionBlock& b) {
  const int64_t d = b.d_head, n_rows = b.n_rows;
  float* o[kBlockRows];
  int32_t lim[kBlockRows];  // keys row r sees; rows past n_rows: the last row's (never stored)
  block_rows(b, o, lim);
  const int64_t n_max = lim[kBlockRows - 1], n_kp = (n_max + 31) / 32 * 32;
  const int64_t per_head = b.kv_blocks * 32 * d;
  const uint16_t* kp = b.kp + b.g * per_head;
  const uint16_t* vp = b.vp + b.g * per_head;

  uint16_t* qb = scratch<uint16_t, 1>(size_t(kBlockRows * d));      // [32, d] q / sqrt(d)
  float* s = scratch<float, 2>(size_t(kBlockRows * n_kp));           // [32, n_kp] scores
  uint16_t* p = scratch<uint16_t, 3>(size_t(kBlockRows * n_kp));     // [32, n_kp] probabilities
  float* ob = scratch<float, 4>(size_t(kBlockRows * d));             // [32, d] unnormalised out
  const __m512 scale = _mm512_set1_ps(1.f / std::sqrt(float(d)));
  for (int64_t r = 0; r < kBlockRows; ++r)
    for (int64_t c = 0; c < d; c += kLanes) {
      const __m512 x = r < n_rows ? _mm512_mul_ps(_mm512_loadu_ps(o[r] - b.out + b.q + c), scale) : _mm512_setzero_ps();
      _mm256_store_si256(reinterpret_cast<__m256i*>(qb + r * d + c), reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(x)));
    }

  tile_barrier();  // qb is written before the tiles load it
  amx_load_tile_config();  // tiles 0-3: C (16 x 16 f32), 4-5: A, 6-7: B
  // S, 32 keys at a time: A = q rows (chunks of 32 of d), B = the K block's two 16-key tiles.
  for (int64_t j0 = 0; j0 < n_kp; j0 += 32) {
    tile_products(qb, d * 2, 32, 16 * d, kp + j0 * d, 1024, 512, d / 32);
    float* sj = s + j0;
    _tile_stored(0, sj, n_kp * 4);
    _tile_stored(1, sj + 16, n_kp * 4);
    _tile_stored(2, sj + 16 * n_kp, n_kp * 4);
    _tile_stored(3, sj + 16 * n_kp + 16, n_kp * 4);
  }

  tile_barrier();  // the scores are stored before the softmax reads them
  // Softmax per row over its keys; probabilities past them (and whole rows past n_rows) are 0.
  alignas(64) float inv[kBlockRows];
  const __m512 neg_inf = _mm512_set1_ps(-INFINITY);
  for (int64_t r = 0; r < kBlockRows; ++r) {
    float* sr = s + r * n_kp;
    uint16_t* pr = p + r * n_kp;
    const int64_t n = r < n_rows ? lim[r] : 0;
    __m512 mx = neg_inf;
    for (int64_t j = 0; j < n; j += kLanes) mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(neg_inf, first_lanes(n - j), sr + j));
    const __m512 rmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j < n; j += kLanes) {
      const __mmask16 m = first_lanes(n - j);
      const __m512 e = _mm512_maskz_mov_ps(m, exp_for_bf16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, sr + j), rmax)));
      sum = _mm512_add_ps(sum, e);
      _mm256_store_si256(reinterpret_cast<__m256i*>(pr + j), reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(e)));
    }
    if (j < n_kp) std::memset(pr + j, 0, size_t(n_kp - j) * sizeof(uint16_t));
    inv[r] = n > 0 ? 1.f / _mm512_reduce_add_ps(sum) : 0.f;
  }

  tile_barrier();  // and the probabilities written before the tiles load them
  // O, 32 columns at a time: A = P rows (chunks of 32 keys), B = V's two 16-column tiles.
  for (int64_t c0 = 0; c0 < d; c0 += 32) {
    tile_products(p, n_kp * 2, 32, 16 * n_kp, vp + (c0 / kLanes) * 512, 32 * d, 512, n_kp / 32);
    float* oc = ob + c0;
    _tile_stored(0, oc, d * 4);
    _tile_stored(1, oc + 16, d * 4);
    _tile_stored(2, oc + 16 * d, d * 4);
    _tile_stored(3, oc + 16 * d + 16, d * 4);
  }
  _tile_release();
  tile_barrier();  // ob is stored before it is read
  for (int64_t r = 0; r < n_rows; ++r) {
    const __m512 sc = _mm512_set1_ps(inv[r]);
    for (int64_t c = 0; c < d; c += kLanes)
      _mm512_storeu_ps(o[r] + c, _mm512_mul_ps(_mm512_load_ps(ob + r * d + c), sc));
  }
}

}  // namespace slotlm::kernels::detail
