// SPDX-License-Identifier: MIT
// AVX-512 kernels (compiled with -mavx512f -mavx512bw -mavx512vl -mfma -mf16c, see CMakeLists.txt).
// Weights are widened to f32 in registers (bf16: a 16-bit shift, f16: vcvtph2ps), so every result
// equals the scalar reference up to f32 summation order; activations are never rounded.
#include <immintrin.h>

#include "kernels/isa/bf16_avx512.h"
#include "kernels/isa/exp_avx512.h"
#include "kernels/isa/reduce_avx512.h"
#include "kernels/isa/tables.h"

namespace slotlm::kernels::detail {

namespace {

constexpr int64_t kLanes = 16;

inline __mmask16 tail_mask(int64_t n) { return __mmask16((1u << n) - 1u); }

// Widening loads of 16 weights; `load_tail` reads only the first `n` (< 16), the rest are 0.
struct LoadF32 {
  using T = float;
  static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
  static __m512 load_tail(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(tail_mask(n), p); }
};
struct LoadBF16 {
  using T = uint16_t;
  static __m512 widen(__m256i v) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
  }
  static __m512 load(const uint16_t* p) { return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static __m512 load_tail(const uint16_t* p, int64_t n) { return widen(_mm256_maskz_loadu_epi16(tail_mask(n), p)); }
};
struct LoadF16 {
  using T = uint16_t;
  static __m512 load(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static __m512 load_tail(const uint16_t* p, int64_t n) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(tail_mask(n), p));
  }
};

// R weight rows times T activation rows: R*T accumulators, each weight vector loaded once and used
// T times. Decode (T = 1) is bound by weight bandwidth; R = 4 keeps four streams in flight.
template <class L, int R, int T>
void gemv_tile(const float* x, int64_t k, const typename L::T* w, int64_t ldw, const float* bias,
               float* y, int64_t ldy) {
  __m512 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm512_setzero_ps();
  // Software prefetch of the next tile's rows (R rows further, same columns), one per cache line:
  // the hardware prefetchers alone stream only ~11 GB/s from DRAM on 2 threads here, with this
  // ~25 GB/s (lm_head-sized gemv, bench/RESULTS.md). Prefetches never fault, so running past the
  // last row is harmless.
  constexpr int64_t kLine = 64 / int64_t(sizeof(typename L::T));
  const typename L::T* next = w + R * ldw;
  int64_t j = 0;
  for (; j + kLanes <= k; j += kLanes) {
    if (j % kLine == 0)
      for (int r = 0; r < R; ++r) _mm_prefetch(reinterpret_cast<const char*>(next + r * ldw + j), _MM_HINT_T0);
    __m512 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm512_loadu_ps(x + t * k + j);
    for (int r = 0; r < R; ++r) {
      const __m512 wv = L::load(w + r * ldw + j);
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  if (j < k) {
    const int64_t n = k - j;
    __m512 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm512_maskz_loadu_ps(tail_mask(n), x + t * k + j);
    for (int r = 0; r < R; ++r) {
      const __m512 wv = L::load_tail(w + r * ldw + j, n);
      for (int t = 0; t < T; ++t) acc[r][t] = _mm512_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  store_tile_sums(acc, bias, y, ldy);
}

template <class L, int R>
void gemv_rows(const float* x, int64_t n, const typename L::T* w, int64_t k, int64_t ldw,
               const float* bias, float* y, int64_t ldy) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) gemv_tile<L, R, 4>(x + i * k, k, w, ldw, bias, y + i * ldy, ldy);
  switch (n - i) {
    case 3: gemv_tile<L, R, 3>(x + i * k, k, w, ldw, bias, y + i * ldy, ldy); break;
    case 2: gemv_tile<L, R, 2>(x + i * k, k, w, ldw, bias, y + i * ldy, ldy); break;
    case 1: gemv_tile<L, R, 1>(x + i * k, k, w, ldw, bias, y + i * ldy, ldy); break;
    default: break;
  }
}

template <class L>
void gemv(const float* x, int64_t n, const typename L::T* w, int64_t rows, int64_t k, int64_t ldw,
          const float* bias, float* y, int64_t ldy) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4)
    gemv_rows<L, 4>(x, n, w + r * ldw, k, ldw, bias ? bias + r : nullptr, y + r, ldy);
  for (; r < rows; ++r) gemv_rows<L, 1>(x, n, w + r * ldw, k, ldw, bias ? bias + r : nullptr, y + r, ldy);
}

template <class L>
void axpy(float a, const typename L::T* w, int64_t n, float* y) {
  const __m512 av = _mm512_set1_ps(a);
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    _mm512_storeu_ps(y + j, _mm512_fmadd_ps(av, L::load(w + j), _mm512_loadu_ps(y + j)));
  if (j < n) {
    const __mmask16 m = tail_mask(n - j);
    const __m512 yv = _mm512_maskz_loadu_ps(m, y + j);
    _mm512_mask_storeu_ps(y + j, m, _mm512_fmadd_ps(av, L::load_tail(w + j, n - j), yv));
  }
}

float dot_f32(const float* a, const float* b, int64_t n) {
  __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
  int64_t j = 0;
  for (; j + 2 * kLanes <= n; j += 2 * kLanes) {
    acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + j), _mm512_loadu_ps(b + j), acc0);
    acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + j + kLanes), _mm512_loadu_ps(b + j + kLanes), acc1);
  }
  for (; j < n; j += kLanes) {
    const __mmask16 m = n - j >= kLanes ? __mmask16(0xffff) : tail_mask(n - j);
    acc0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + j), _mm512_maskz_loadu_ps(m, b + j), acc0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

float max_f32(const float* x, int64_t n) {
  __m512 m = _mm512_set1_ps(x[0]);
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) m = _mm512_max_ps(m, _mm512_loadu_ps(x + j));
  if (j < n) m = _mm512_mask_max_ps(m, tail_mask(n - j), m, _mm512_maskz_loadu_ps(tail_mask(n - j), x + j));
  return _mm512_reduce_max_ps(m);
}

float exp_sum(const float* x, int64_t n, float shift, float scale, float* out) {
  const __m512 sh = _mm512_set1_ps(shift), sc = _mm512_set1_ps(scale);
  __m512 sum = _mm512_setzero_ps();
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    const __m512 e = exp_nonpositive(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(x + j), sh), sc));
    _mm512_storeu_ps(out + j, e);
    sum = _mm512_add_ps(sum, e);
  }
  if (j < n) {
    const __mmask16 m = tail_mask(n - j);
    const __m512 e = exp_nonpositive(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + j), sh), sc));
    _mm512_mask_storeu_ps(out + j, m, e);
    sum = _mm512_mask_add_ps(sum, m, sum, e);
  }
  return _mm512_reduce_add_ps(sum);
}

// silu(g) * u through e = exp(-|g|) in (0, 1]: sigmoid(g) = 1 / (1 + e) for g >= 0 and
// e / (1 + e) for g < 0 (the same value as 1 / (1 + exp(-g))). Only a non-positive exponent is
// ever taken, so nothing overflows for any finite g, and the libm call of the scalar table becomes
// ~12 vector instructions. Below -87.3, exp_nonpositive clamps; there e is set to 0 (exact result
// < 1.2e-36), which makes silu(-100) = -0 and silu(100) = 100 exactly. NaN in g stays NaN.
inline __m512 silu_times(__m512 g, __m512 u) {
  const __m512i sign = _mm512_set1_epi32(int(0x80000000u));
  const __m512 a = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(g), sign));  // -|g|
  const __mmask16 keep = _mm512_cmp_ps_mask(a, _mm512_set1_ps(-87.3f), _CMP_GE_OQ);
  const __m512 e = _mm512_maskz_mov_ps(keep, exp_nonpositive(a));
  const __mmask16 neg = _mm512_cmp_ps_mask(g, _mm512_setzero_ps(), _CMP_LT_OQ);
  const __m512 num = _mm512_mask_mul_ps(g, neg, g, e);
  return _mm512_mul_ps(_mm512_div_ps(num, _mm512_add_ps(_mm512_set1_ps(1.f), e)), u);
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    _mm512_storeu_ps(out + j, silu_times(_mm512_loadu_ps(gate + j), _mm512_loadu_ps(up + j)));
  if (j < n) {
    const __mmask16 m = tail_mask(n - j);
    const __m512 g = _mm512_maskz_loadu_ps(m, gate + j), u = _mm512_maskz_loadu_ps(m, up + j);
    _mm512_mask_storeu_ps(out + j, m, silu_times(g, u));
  }
}

// Up to 4 query rows at a time, one 16-wide column chunk of `d`: each value vector is loaded once
// and used by all rows of the tile.
template <int T>
void mix_tile(const float* p, int64_t ldp, const float* v, int64_t n_keys, int64_t ldv, int64_t c,
              __mmask16 m, float* out, int64_t ldo) {
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t j = 0; j < n_keys; ++j) {
    const __m512 vj = _mm512_maskz_loadu_ps(m, v + j * ldv + c);
    for (int t = 0; t < T; ++t) acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(p[t * ldp + j]), vj, acc[t]);
  }
  for (int t = 0; t < T; ++t) _mm512_mask_storeu_ps(out + t * ldo + c, m, acc[t]);
}

void mix_rows(const float* p, int64_t n, int64_t ldp, const float* v, int64_t n_keys, int64_t ldv,
              int64_t d, float* out, int64_t ldo) {
  for (int64_t c = 0; c < d; c += kLanes) {
    const __mmask16 m = d - c >= kLanes ? __mmask16(0xffff) : tail_mask(d - c);
    int64_t t = 0;
    for (; t + 4 <= n; t += 4) mix_tile<4>(p + t * ldp, ldp, v, n_keys, ldv, c, m, out + t * ldo, ldo);
    switch (n - t) {
      case 3: mix_tile<3>(p + t * ldp, ldp, v, n_keys, ldv, c, m, out + t * ldo, ldo); break;
      case 2: mix_tile<2>(p + t * ldp, ldp, v, n_keys, ldv, c, m, out + t * ldo, ldo); break;
      case 1: mix_tile<1>(p + t * ldp, ldp, v, n_keys, ldv, c, m, out + t * ldo, ldo); break;
      default: break;
    }
  }
}

template <class L>
void widen(const typename L::T* s, int64_t n, float* d) {
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) _mm512_storeu_ps(d + j, L::load(s + j));
  if (j < n) _mm512_mask_storeu_ps(d + j, tail_mask(n - j), L::load_tail(s + j, n - j));
}

void f32_to_bf16(const float* s, int64_t n, uint16_t* d) {
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + j), narrow_bf16(_mm512_loadu_ps(s + j)));
  if (j < n) {
    const __mmask16 m = tail_mask(n - j);
    _mm256_mask_storeu_epi16(d + j, m, narrow_bf16(_mm512_maskz_loadu_ps(m, s + j)));
  }
}

// Four rows per pass: y is loaded and stored once per four rows, four weight streams are in flight,
// and the next four rows are prefetched (~13 -> ~21 GB/s on SLOT's 151936 x 896 bf16 W^T r).
// Within a pass the rows are added in order with one FMA each, as four axpy calls would.
template <class L>
void gemv_t(const float* x, const typename L::T* w, int64_t rows, int64_t k, int64_t ldw, float* y) {
  constexpr int64_t kLine = 64 / int64_t(sizeof(typename L::T));
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    const typename L::T* w0 = w + r * ldw;
    const typename L::T* next = w0 + 4 * ldw;
    const __m512 a0 = _mm512_set1_ps(x[r]), a1 = _mm512_set1_ps(x[r + 1]);
    const __m512 a2 = _mm512_set1_ps(x[r + 2]), a3 = _mm512_set1_ps(x[r + 3]);
    int64_t j = 0;
    for (; j + kLanes <= k; j += kLanes) {
      if (j % kLine == 0)
        for (int i = 0; i < 4; ++i) _mm_prefetch(reinterpret_cast<const char*>(next + i * ldw + j), _MM_HINT_T0);
      __m512 v = _mm512_loadu_ps(y + j);
      v = _mm512_fmadd_ps(a0, L::load(w0 + j), v);
      v = _mm512_fmadd_ps(a1, L::load(w0 + ldw + j), v);
      v = _mm512_fmadd_ps(a2, L::load(w0 + 2 * ldw + j), v);
      v = _mm512_fmadd_ps(a3, L::load(w0 + 3 * ldw + j), v);
      _mm512_storeu_ps(y + j, v);
    }
    if (j < k) {
      const int64_t n = k - j;
      const __mmask16 m = tail_mask(n);
      __m512 v = _mm512_maskz_loadu_ps(m, y + j);
      v = _mm512_fmadd_ps(a0, L::load_tail(w0 + j, n), v);
      v = _mm512_fmadd_ps(a1, L::load_tail(w0 + ldw + j, n), v);
      v = _mm512_fmadd_ps(a2, L::load_tail(w0 + 2 * ldw + j, n), v);
      v = _mm512_fmadd_ps(a3, L::load_tail(w0 + 3 * ldw + j, n), v);
      _mm512_mask_storeu_ps(y + j, m, v);
    }
  }
  for (; r < rows; ++r)
    if (x[r] != 0.f) axpy<L>(x[r], w + r * ldw, k, y);
}

const KernelTable kTable = {
    gemv<LoadF32>,   gemv<LoadBF16>,   gemv<LoadF16>,  axpy<LoadF32>,   axpy<LoadBF16>,  axpy<LoadF16>,
    dot_f32,         max_f32,          exp_sum,        mix_rows,        widen<LoadBF16>, widen<LoadF16>,
    f32_to_bf16,     silu_mul,         gemv_t<LoadF32>, gemv_t<LoadBF16>, gemv_t<LoadF16>,
};

}  // namespace

const KernelTable& avx512_table() { return kTable; }

}  // namespace slotlm::kernels::detail
