// SPDX-License-Identifier: MIT
// Decode-sized bf16 products on VDPBF16PS (compiled with -mavx512f/bw/vl -mavx512bf16, see
// CMakeLists.txt; called only when bf16_dot_available()). One instruction takes 32 weights and 32
// bf16 activations, against 16 for an f32 FMA after widening: on Zen 5 it issues as often as the FMA,
// so batched decode, which the FMA gemv makes compute-bound, streams the weights about 1.6x faster.
#include "kernels/isa/dot_gemv.h"

#include <immintrin.h>

#include "kernels/isa/bf16_avx512.h"
#include "kernels/isa/reduce_avx512.h"

namespace slotlm::kernels::detail {

void dot_gemv_pack(const float* x, int64_t n, int terms, int64_t k, uint16_t* out) {
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < k; i += 32) {
      __m512 lo = _mm512_loadu_ps(x + j * k + i), hi = _mm512_loadu_ps(x + j * k + i + 16);
      for (int t = 0; t < terms; ++t) {
        uint16_t* dst = out + (j * terms + t) * k + i;
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), next_bf16_term(lo));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 16), next_bf16_term(hi));
      }
    }
}

namespace {

// R weight rows times T rows of x, each with `Terms` bf16 terms: R*T accumulators; each weight
// vector is loaded once per step and used T * Terms times. The next tile's rows (R further) are
// prefetched a cache line (one step) at a time, as the FMA gemv does.
template <int R, int T, int Terms>
void dot_tile(const uint16_t* xp, int64_t k, const uint16_t* w, int64_t ldw, const float* bias, float* y,
              int64_t ldy) {
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  const uint16_t* next = w + R * ldw;
  for (int64_t j = 0; j < k; j += 32) {
    for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(next + r * ldw + j), _MM_HINT_T0);
    __m512bh wv[R];
    for (int r = 0; r < R; ++r) wv[r] = (__m512bh)_mm512_loadu_si512(w + r * ldw + j);
    for (int e = 0; e < Terms; ++e)
      for (int t = 0; t < T; ++t) {
        const __m512bh xv = (__m512bh)_mm512_loadu_si512(xp + (t * Terms + e) * k + j);
        for (int r = 0; r < R; ++r) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv[r], xv);
      }
  }
  store_tile_sums(acc, bias, y, ldy);
}

// The tiles of R weight rows for all n rows of x, 4 at a time. (Prefetching in the first tile
// only, or sharing the rows out among the tiles, measured no better for 8 sequences.)
template <int R, int Terms>
void dot_rows(const uint16_t* xp, int64_t n, int64_t k, const uint16_t* w, int64_t ldw, const float* bias, float* y,
              int64_t ldy) {
  const int64_t xs = Terms * k;  // elements per packed row of x
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) dot_tile<R, 4, Terms>(xp + i * xs, k, w, ldw, bias, y + i * ldy, ldy);
  switch (n - i) {
    case 3: dot_tile<R, 3, Terms>(xp + i * xs, k, w, ldw, bias, y + i * ldy, ldy); break;
    case 2: dot_tile<R, 2, Terms>(xp + i * xs, k, w, ldw, bias, y + i * ldy, ldy); break;
    case 1: dot_tile<R, 1, Terms>(xp + i * xs, k, w, ldw, bias, y + i * ldy, ldy); break;
    default: break;
  }
}

template <int Terms>
void dot_gemv(const uint16_t* xp, int64_t n, const uint16_t* w, int64_t ldw, int64_t rows, int64_t k,
              const float* bias, float* y, int64_t ldy) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) dot_rows<4, Terms>(xp, n, k, w + r * ldw, ldw, bias ? bias + r : nullptr, y + r, ldy);
  for (; r < rows; ++r) dot_rows<1, Terms>(xp, n, k, w + r * ldw, ldw, bias ? bias + r : nullptr, y + r, ldy);
}

}  // namespace

void dot_gemv_bf16(const uint16_t* xp, int64_t n, int terms, const uint16_t* w, int64_t ldw, int64_t rows,
                   int64_t k, const float* bias, float* y, int64_t ldy) {
  switch (terms) {
    case 1: dot_gemv<1>(xp, n, w, ldw, rows, k, bias, y, ldy); break;
    case 2: dot_gemv<2>(xp, n, w, ldw, rows, k, bias, y, ldy); break;
    default: dot_gemv<3>(xp, n, w, ldw, rows, k, bias, y, ldy); break;
  }
}

}  // namespace slotlm::kernels::detail
