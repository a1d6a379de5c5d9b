// SPDX-License-Identifier: MIT
// AVX2 + FMA kernels (compiled with -mavx2 -mfma -mf16c, see CMakeLists.txt). Same contracts and
// numerics as the AVX-512 table: weights widened exactly in registers, f32 accumulation; tails of
// fewer than 8 elements are finished with scalar code.
#include <immintrin.h>

#include <cstring>

#include "kernels/isa/tables.h"

namespace slotlm::kernels::detail {

namespace {

constexpr int64_t kLanes = 8;

// Local scalar conversions for the tails. Not core/dtype.h's inline ones: an inline function
// compiled here with -mavx2 could be the copy the linker keeps for the whole program.
float bf16_scalar(uint16_t v) {
  const uint32_t bits = uint32_t(v) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
float f16_scalar(uint16_t v) {
  return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(int(v))));
}
uint16_t to_bf16_scalar(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}

struct LoadF32 {
  using T = float;
  static __m256 load(const float* p) { return _mm256_loadu_ps(p); }
  static float scalar(const float* p) { return *p; }
};
struct LoadBF16 {
  using T = uint16_t;
  static __m256 load(const uint16_t* p) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16));
  }
  static float scalar(const uint16_t* p) { return bf16_scalar(*p); }
};
struct LoadF16 {
  using T = uint16_t;
  static __m256 load(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static float scalar(const uint16_t* p) { return f16_scalar(*p); }
};

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// R weight rows times T activation rows (see kernels_avx512.cpp).
template <class L, int R, int T>
void gemv_tile(const float* x, int64_t k, const typename L::T* w, int64_t ldw, const float* bias,
               float* y, int64_t ldy) {
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + kLanes <= k; j += kLanes) {
    __m256 xv[T];
    for (int t = 0; t < T; ++t) xv[t] = _mm256_loadu_ps(x + t * k + j);
    for (int r = 0; r < R; ++r) {
      const __m256 wv = L::load(w + r * ldw + j);
      for (int t = 0; t < T; ++t) acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
    }
  }
  for (int r = 0; r < R; ++r) {
    const float b = bias ? bias[r] : 0.f;
    for (int t = 0; t < T; ++t) {
      float s = hsum(acc[r][t]);
      for (int64_t jj = j; jj < k; ++jj) s += x[t * k + jj] * L::scalar(w + r * ldw + jj);
      y[t * ldy + r] = s + b;
    }
  }
}

template <class L, int R>
void gemv_rows(const float* x, int64_t n, const typename L::T* w, int64_t k, int64_t ldw,
               const float* bias, float* y, int64_t ldy) {
  int64_t i = 0;
  for (; i + 3 <= n; i += 3) gemv_tile<L, R, 3>(x + i * k, k, w, ldw, bias, y + i * ldy, ldy);
  switch (n - i) {
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
  const __m256 av = _mm256_set1_ps(a);
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    _mm256_storeu_ps(y + j, _mm256_fmadd_ps(av, L::load(w + j), _mm256_loadu_ps(y + j)));
  for (; j < n; ++j) y[j] += a * L::scalar(w + j);
}

float dot_f32(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 2 * kLanes <= n; j += 2 * kLanes) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j + kLanes), _mm256_loadu_ps(b + j + kLanes), acc1);
  }
  for (; j + kLanes <= n; j += kLanes) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), acc0);
  float s = hsum(_mm256_add_ps(acc0, acc1));
  for (; j < n; ++j) s += a[j] * b[j];
  return s;
}

float max_f32(const float* x, int64_t n) {
  __m256 m = _mm256_set1_ps(x[0]);
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) m = _mm256_max_ps(m, _mm256_loadu_ps(x + j));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  float r = _mm_cvtss_f32(h);
  for (; j < n; ++j) r = x[j] > r ? x[j] : r;
  return r;
}

// exp(x) for x <= 0, as in kernels_avx512.cpp; 2^n is built in the exponent field (n >= -126
// after the clamp, so the result stays normal).
inline __m256 exp_nonpositive(__m256 x) {
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187e-06f), r);
  __m256 p = _mm256_set1_ps(1.f / 5040);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 720));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

float exp_sum(const float* x, int64_t n, float shift, float scale, float* out) {
  const __m256 sh = _mm256_set1_ps(shift), sc = _mm256_set1_ps(scale);
  __m256 sum = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    const __m256 e = exp_nonpositive(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(x + j), sh), sc));
    _mm256_storeu_ps(out + j, e);
    sum = _mm256_add_ps(sum, e);
  }
  float s = hsum(sum);
  if (j < n) {
    float buf[kLanes] = {}, res[kLanes];
    for (int64_t i = j; i < n; ++i) buf[i - j] = x[i];
    _mm256_storeu_ps(res, exp_nonpositive(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(buf), sh), sc)));
    for (int64_t i = j; i < n; ++i) s += (out[i] = res[i - j]);
  }
  return s;
}

// silu(g) * u through e = exp(-|g|), as in kernels_avx512.cpp: sigmoid(g) = 1 / (1 + e) for
// g >= 0, e / (1 + e) for g < 0; e is set to 0 below -87.3 (exact result < 1.2e-36).
inline __m256 silu_times(__m256 g, __m256 u) {
  const __m256 a = _mm256_or_ps(g, _mm256_set1_ps(-0.f));  // -|g|
  const __m256 keep = _mm256_cmp_ps(a, _mm256_set1_ps(-87.3f), _CMP_GE_OQ);
  const __m256 e = _mm256_and_ps(keep, exp_nonpositive(a));
  const __m256 neg = _mm256_cmp_ps(g, _mm256_setzero_ps(), _CMP_LT_OQ);
  const __m256 num = _mm256_blendv_ps(g, _mm256_mul_ps(g, e), neg);
  return _mm256_mul_ps(_mm256_div_ps(num, _mm256_add_ps(_mm256_set1_ps(1.f), e)), u);
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    _mm256_storeu_ps(out + j, silu_times(_mm256_loadu_ps(gate + j), _mm256_loadu_ps(up + j)));
  if (j < n) {  // through a zero-padded buffer, so tail elements get the same maths
    float g[kLanes] = {}, u[kLanes] = {}, res[kLanes];
    for (int64_t i = j; i < n; ++i) g[i - j] = gate[i], u[i - j] = up[i];
    _mm256_storeu_ps(res, silu_times(_mm256_loadu_ps(g), _mm256_loadu_ps(u)));
    for (int64_t i = j; i < n; ++i) out[i] = res[i - j];
  }
}

template <int T>
void mix_tile(const float* p, int64_t ldp, const float* v, int64_t n_keys, int64_t ldv, int64_t c,
              float* out, int64_t ldo) {
  __m256 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm256_setzero_ps();
  for (int64_t j = 0; j < n_keys; ++j) {
    const __m256 vj = _mm256_loadu_ps(v + j * ldv + c);
    for (int t = 0; t < T; ++t) acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(p[t * ldp + j]), vj, acc[t]);
  }
  for (int t = 0; t < T; ++t) _mm256_storeu_ps(out + t * ldo + c, acc[t]);
}

void mix_rows(const float* p, int64_t n, int64_t ldp, const float* v, int64_t n_keys, int64_t ldv,
              int64_t d, float* out, int64_t ldo) {
  int64_t c = 0;
  for (; c + kLanes <= d; c += kLanes) {
    int64_t t = 0;
    for (; t + 4 <= n; t += 4) mix_tile<4>(p + t * ldp, ldp, v, n_keys, ldv, c, out + t * ldo, ldo);
    for (; t < n; ++t) mix_tile<1>(p + t * ldp, ldp, v, n_keys, ldv, c, out + t * ldo, ldo);
  }
  for (; c < d; ++c)  // column tail
    for (int64_t t = 0; t < n; ++t) {
      float acc = 0.f;
      for (int64_t j = 0; j < n_keys; ++j) acc += p[t * ldp + j] * v[j * ldv + c];
      out[t * ldo + c] = acc;
    }
}

template <class L>
void widen(const typename L::T* s, int64_t n, float* d) {
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) _mm256_storeu_ps(d + j, L::load(s + j));
  for (; j < n; ++j) d[j] = L::scalar(s + j);
}

void f32_to_bf16(const float* s, int64_t n, uint16_t* d) {
  for (int64_t j = 0; j < n; ++j) d[j] = to_bf16_scalar(s[j]);
}

template <class L>
void gemv_t(const float* x, const typename L::T* w, int64_t rows, int64_t k, int64_t ldw, float* y) {
  for (int64_t r = 0; r < rows; ++r)
    if (x[r] != 0.f) axpy<L>(x[r], w + r * ldw, k, y);
}

const KernelTable kTable = {
    gemv<LoadF32>,   gemv<LoadBF16>,   gemv<LoadF16>,  axpy<LoadF32>,   axpy<LoadBF16>,  axpy<LoadF16>,
    dot_f32,         max_f32,          exp_sum,        mix_rows,        widen<LoadBF16>, widen<LoadF16>,
    f32_to_bf16,     silu_mul,         gemv_t<LoadF32>, gemv_t<LoadBF16>, gemv_t<LoadF16>,
};

}  // namespace

const KernelTable& avx2_table() { return kTable; }

}  // namespace slotlm::kernels::detail
