// SPDX-License-Identifier: MIT
// Decode-sized bf16 products on weights in oneDNN's blocked layout (blocked_gemv.h), on VDPBF16PS
// (compiled with -mavx512f/bw/vl -mavx512bf16; called only when bf16_dot_available()). The 16 lanes
// of an accumulator are 16 output features, so each step broadcasts one pair of x and needs no
// horizontal sums, and the weights stream as one contiguous run per thread.
#include <immintrin.h>

#include <algorithm>

#include "kernels/isa/blocked_gemv.h"

namespace slotlm::kernels::detail {

namespace {

// Pairs (256-byte rows of a block) prefetched ahead.
constexpr int64_t kPrefetchPairs = 16;
constexpr int64_t kCacheLine = 64;

// One block of 64 features times T rows of x (`Terms` terms each): 4 * T accumulators, the 4
// weight vectors of a step loaded once and used T * Terms times (at T = 8 the 32 accumulators and
// the operands do not all fit in the 32 registers: GCC keeps a few in L1, still ~90% of the
// VDPBF16PS peak from cache). A walk that reads its block from cache (`ahead` set, see block_rows)
// prefetches instead the front half of the next block, T / 2 cache lines per step.
template <int T, int Terms>
void block_tile(const uint16_t* xp, int64_t k, const uint16_t* wb, const float* bias, float* y, int64_t ldy,
                const char* ahead) {
  __m512 acc[T][4];
  for (int t = 0; t < T; ++t)
    for (int q = 0; q < 4; ++q) acc[t][q] = _mm512_setzero_ps();
  const auto* xw = reinterpret_cast<const int32_t*>(xp);  // x as pairs of bf16
  const int64_t pairs = k / 2;
  const char* const ahead_end = ahead ? ahead + pairs * 2 * kCacheLine : nullptr;  // half of 4 lines a step
  int credit = 0;  // in half lines
  for (int64_t p = 0; p < pairs; ++p) {
    const uint16_t* w = wb + p * 2 * kBlockRows;
    if (!ahead) {
      for (int c = 0; c < 4; ++c)  // the step kPrefetchPairs ahead: 4 cache lines
        _mm_prefetch(reinterpret_cast<const char*>(w + kPrefetchPairs * 2 * kBlockRows + c * 32), _MM_HINT_T0);
    } else {
      for (credit += T; credit >= 2 && ahead < ahead_end; credit -= 2, ahead += kCacheLine) _mm_prefetch(ahead, _MM_HINT_T0);
    }
    __m512bh wv[4];
    for (int q = 0; q < 4; ++q) wv[q] = (__m512bh)_mm512_loadu_si512(w + q * 32);
    for (int e = 0; e < Terms; ++e)
      for (int t = 0; t < T; ++t) {
        const __m512bh xv = (__m512bh)_mm512_set1_epi32(xw[(t * Terms + e) * pairs + p]);
        for (int q = 0; q < 4; ++q) acc[t][q] = _mm512_dpbf16_ps(acc[t][q], wv[q], xv);
      }
  }
  for (int t = 0; t < T; ++t)
    for (int q = 0; q < 4; ++q) {
      __m512 v = acc[t][q];
      if (bias) v = _mm512_add_ps(v, _mm512_loadu_ps(bias + q * 16));
      _mm512_storeu_ps(y + t * ldy + q * 16, v);
    }
}

// One block for all n rows of x, in walks of up to `walk` rows (at most kMaxWalkRows). The first
// walk streams the block from memory: with 8 rows each weight read from memory feeds 8 * Terms
// products, enough to keep the cores computing while memory streams (at 4 rows a step's products
// took half the time its bytes took to arrive, and the second walk over the block from cache left
// memory idle). Later walks (n > 8) hit the cache and the memory would idle, so the last of them
// prefetches the front half of `next` (the thread's next block, or null): the first walk over that
// block then starts with it cached and the hardware prefetchers already streaming. Only half, and
// T / 2 lines per step: prefetching all of it saturated the core's outstanding misses and slowed the
// walk (bench_decode_paths BM_DecodeStepLookahead; bench/RESULTS.md, sessions 15 and 16).
template <int Terms>
void block_rows(const uint16_t* xp, int64_t n, int64_t k, const uint16_t* wb, const float* bias, float* y,
                int64_t ldy, const uint16_t* next, int64_t walk) {
  const int64_t xs = Terms * k;  // elements per packed row of x
  for (int64_t j = 0; j < n;) {
    const int64_t t = std::min(walk, n - j);
    const char* ahead = j > 0 && j + t == n ? reinterpret_cast<const char*>(next) : nullptr;
    const uint16_t* xj = xp + j * xs;
    float* yj = y + j * ldy;
    switch (t) {
      case 8: block_tile<8, Terms>(xj, k, wb, bias, yj, ldy, ahead); break;
      case 7: block_tile<7, Terms>(xj, k, wb, bias, yj, ldy, ahead); break;
      case 6: block_tile<6, Terms>(xj, k, wb, bias, yj, ldy, ahead); break;
      case 5: block_tile<5, Terms>(xj, k, wb, bias, yj, ldy, ahead); break;
      case 4: block_tile<4, Terms>(xj, k, wb, bias, yj, ldy, ahead); break;
      case 3: block_tile<3, Terms>(xj, k, wb, bias, yj, ldy, ahead); break;
      case 2: block_tile<2, Terms>(xj, k, wb, bias, yj, ldy, ahead); break;
      default: block_tile<1, Terms>(xj, k, wb, bias, yj, ldy, ahead); break;
    }
    j += t;
  }
}

template <int Terms>
void blocked_gemv(const uint16_t* xp, int64_t n, const uint16_t* wb, int64_t k, int64_t r0, int64_t r1,
                  const BlockedWalks& walks, const float* bias, float* y, int64_t ldy) {
  const int64_t walk = std::clamp<int64_t>(walks.rows, 1, kMaxWalkRows);
  for (int64_t r = r0; r < r1; r += kBlockRows) {
    const uint16_t* next = r + kBlockRows < walks.rows_ahead ? wb + (r + kBlockRows) * k : nullptr;
    block_rows<Terms>(xp, n, k, wb + r * k, bias ? bias + r : nullptr, y + r, ldy, next, walk);
  }
}

}  // namespace

void blocked_gemv_t_bf16(const float* x, const uint16_t* wb, int64_t k, int64_t r0, int64_t r1, float* scratch,
                         float* acc) {
  // scratch[i * 16 + lane]: the partial sum of column i over the rows r with r % 16 == lane.
  for (int64_t i = 0; i < k; ++i) _mm512_storeu_ps(scratch + i * 16, _mm512_setzero_ps());
  const __m512i hi = _mm512_set1_epi32(int(0xffff0000u));
  for (int64_t r = r0; r < r1; r += kBlockRows) {
    const uint16_t* w = wb + r * k;
    __m512 xs[4];
    for (int q = 0; q < 4; ++q) xs[q] = _mm512_loadu_ps(x + r + q * 16);
    for (int64_t p = 0; p < k / 2; ++p, w += 2 * kBlockRows) {
      for (int c = 0; c < 4; ++c)
        _mm_prefetch(reinterpret_cast<const char*>(w + kPrefetchPairs * 2 * kBlockRows + c * 32), _MM_HINT_T0);
      __m512 even = _mm512_loadu_ps(scratch + 2 * p * 16), odd = _mm512_loadu_ps(scratch + (2 * p + 1) * 16);
      for (int q = 0; q < 4; ++q) {  // lanes: 16 rows; each holds W[row, 2p] (low half), W[row, 2p + 1]
        const __m512i v = _mm512_loadu_si512(w + q * 32);
        even = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_slli_epi32(v, 16)), xs[q], even);
        odd = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_and_si512(v, hi)), xs[q], odd);
      }
      _mm512_storeu_ps(scratch + 2 * p * 16, even);
      _mm512_storeu_ps(scratch + (2 * p + 1) * 16, odd);
    }
  }
  for (int64_t i = 0; i < k; ++i) acc[i] += _mm512_reduce_add_ps(_mm512_loadu_ps(scratch + i * 16));
}

void blocked_gemv_bf16(const uint16_t* xp, int64_t n, int terms, const uint16_t* wb, int64_t k, int64_t r0,
                       int64_t r1, const BlockedWalks& walks, const float* bias, float* y, int64_t ldy) {
  switch (terms) {
    case 1: blocked_gemv<1>(xp, n, wb, k, r0, r1, walks, bias, y, ldy); break;
    case 2: blocked_gemv<2>(xp, n, wb, k, r0, r1, walks, bias, y, ldy); break;
    default: blocked_gemv<3>(xp, n, wb, k, r0, r1, walks, bias, y, ldy); break;
  }
}

}  // namespace slotlm::kernels::detail
