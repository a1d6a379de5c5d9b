// SPDX-License-Identifier: MIT
// Decode-sized bf16 products on weights in oneDNN's blocked layout (blocked_gemv.h), on VDPBF16PS
// (compiled with -mavx512f/bw/vl -mavx512bf16; called only when bf16_dot_available()). The 16 lanes
// of an accumulator are 16 output features, so each step broadcasts one pair of x and needs no
// horizontal sums, and the weights stream as one contiguous run per thread.
#include <immintrin.h>

#include "kernels/isa/blocked_gemv.h"

namespace slotlm::kernels::detail {

namespace {

// Pairs (256-byte rows of a block) prefetched ahead.
constexpr int64_t kPrefetchPairs = 16;
constexpr int64_t kCacheLine = 64;

// One block of 64 features times T rows of x (`Terms` terms each): 4 * T accumulators, the 4
// weight vectors of a step loaded once and used T * Terms times. A walk that reads its block from
// cache (`ahead` set, see block_rows) prefetches instead the front half of the next block, T / 2
// cache lines per step.
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

// One block for all n rows of x, 4 at a time (the block, up to 64 * k * 2 bytes, is read again
// from L2 for each further 4 rows). The first walk streams the block from memory, so the prefetchers
// keep fetching; the later walks hit the cache and the memory would idle, so the last of them
// prefetches the front half of `next` (the thread's next block, or null): the first walk over that
// block then starts with it cached and the hardware prefetchers already streaming. Only half, and
// T / 2 lines per step: prefetching all of it saturated the core's outstanding misses and slowed the
// walk (bench_decode_paths BM_DecodeStepLookahead; bench/RESULTS.md, session 15).
template <int Terms>
void block_rows(const uint16_t* xp, int64_t n, int64_t k, const uint16_t* wb, const float* bias, float* y,
                int64_t ldy, const uint16_t* next) {
  const int64_t xs = Terms * k;  // elements per packed row of x
  const auto* ahead = reinterpret_cast<const char*>(next);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4)
    block_tile<4, Terms>(xp + j * xs, k, wb, bias, y + j * ldy, ldy, j > 0 && j + 4 == n ? ahead : nullptr);
  const char* last = j > 0 ? ahead : nullptr;
  switch (n - j) {
    case 3: block_tile<3, Terms>(xp + j * xs, k, wb, bias, y + j * ldy, ldy, last); break;
    case 2: block_tile<2, Terms>(xp + j * xs, k, wb, bias, y + j * ldy, ldy, last); break;
    case 1: block_tile<1, Terms>(xp + j * xs, k, wb, bias, y + j * ldy, ldy, last); break;
    default: break;
  }
}

template <int Terms>
void blocked_gemv(const uint16_t* xp, int64_t n, const uint16_t* wb, int64_t k, int64_t r0, int64_t r1,
                  int64_t rows_ahead, const float* bias, float* y, int64_t ldy) {
  for (int64_t r = r0; r < r1; r += kBlockRows) {
    const uint16_t* next = r + kBlockRows < rows_ahead ? wb + (r + kBlockRows) * k : nullptr;
    block_rows<Terms>(xp, n, k, wb + r * k, bias ? bias + r : nullptr, y + r, ldy, next);
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
                       int64_t r1, int64_t rows_ahead, const float* bias, float* y, int64_t ldy) {
  switch (terms) {
    case 1: blocked_gemv<1>(xp, n, wb, k, r0, r1, rows_ahead, bias, y, ldy); break;
    case 2: blocked_gemv<2>(xp, n, wb, k, r0, r1, rows_ahead, bias, y, ldy); break;
    default: blocked_gemv<3>(xp, n, wb, k, r0, r1, rows_ahead, bias, y, ldy); break;
  }
}

}  // namespace slotlm::kernels::detail
