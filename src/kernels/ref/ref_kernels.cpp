// SPDX-License-Identifier: MIT
// Scalar reference kernels: the plainest loops that meet each KernelTable contract. They are the
// `scalar` ISA and the ground truth that tests compare the SIMD tables against.
#include <cmath>

#include "core/dtype.h"
#include "kernels/isa/tables.h"

namespace slotlm::kernels::detail {

namespace {

template <float (*Load)(const void*, int64_t)>
void gemv(const float* x, int64_t n, const void* w, int64_t rows, int64_t k, int64_t ldw,
          const float* bias, float* y, int64_t ldy) {
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < n; ++i) {
      float acc = 0.f;
      for (int64_t j = 0; j < k; ++j) acc += x[i * k + j] * Load(w, r * ldw + j);
      y[i * ldy + r] = bias ? acc + bias[r] : acc;
    }
  }
}

float load_f32(const void* p, int64_t i) { return static_cast<const float*>(p)[i]; }
float load_bf16(const void* p, int64_t i) { return bf16_to_f32(static_cast<const uint16_t*>(p)[i]); }
float load_f16(const void* p, int64_t i) { return f16_to_f32(static_cast<const uint16_t*>(p)[i]); }

template <float (*Load)(const void*, int64_t)>
void axpy(float a, const void* w, int64_t n, float* y) {
  for (int64_t j = 0; j < n; ++j) y[j] += a * Load(w, j);
}

template <float (*Load)(const void*, int64_t), class T>
void gemv_t(const float* x, const T* w, int64_t rows, int64_t k, int64_t ldw, float* y) {
  for (int64_t r = 0; r < rows; ++r) axpy<Load>(x[r], w + r * ldw, k, y);
}

const KernelTable kTable = {
    [](const float* x, int64_t n, const float* w, int64_t rows, int64_t k, int64_t ldw, const float* b,
       float* y, int64_t ldy) { gemv<load_f32>(x, n, w, rows, k, ldw, b, y, ldy); },
    [](const float* x, int64_t n, const uint16_t* w, int64_t rows, int64_t k, int64_t ldw,
       const float* b, float* y, int64_t ldy) { gemv<load_bf16>(x, n, w, rows, k, ldw, b, y, ldy); },
    [](const float* x, int64_t n, const uint16_t* w, int64_t rows, int64_t k, int64_t ldw,
       const float* b, float* y, int64_t ldy) { gemv<load_f16>(x, n, w, rows, k, ldw, b, y, ldy); },
    [](float a, const float* w, int64_t n, float* y) { axpy<load_f32>(a, w, n, y); },
    [](float a, const uint16_t* w, int64_t n, float* y) { axpy<load_bf16>(a, w, n, y); },
    [](float a, const uint16_t* w, int64_t n, float* y) { axpy<load_f16>(a, w, n, y); },
    [](const float* a, const float* b, int64_t n) {
      float acc = 0.f;
      for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
      return acc;
    },
    [](const float* x, int64_t n) {
      float m = x[0];
      for (int64_t i = 1; i < n; ++i) m = x[i] > m ? x[i] : m;
      return m;
    },
    [](const float* x, int64_t n, float shift, float scale, float* out) {
      float sum = 0.f;
      for (int64_t i = 0; i < n; ++i) sum += (out[i] = std::exp((x[i] - shift) * scale));
      return sum;
    },
    [](const float* p, int64_t n, int64_t ldp, const float* v, int64_t n_keys, int64_t ldv, int64_t d,
       float* out, int64_t ldo) {
      for (int64_t t = 0; t < n; ++t) {
        for (int64_t c = 0; c < d; ++c) out[t * ldo + c] = 0.f;
        for (int64_t j = 0; j < n_keys; ++j)
          for (int64_t c = 0; c < d; ++c) out[t * ldo + c] += p[t * ldp + j] * v[j * ldv + c];
      }
    },
    [](const uint16_t* s, int64_t n, float* d) {
      for (int64_t i = 0; i < n; ++i) d[i] = bf16_to_f32(s[i]);
    },
    [](const uint16_t* s, int64_t n, float* d) {
      for (int64_t i = 0; i < n; ++i) d[i] = f16_to_f32(s[i]);
    },
    [](const float* s, int64_t n, uint16_t* d) {
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_bf16(s[i]);
    },
    [](const float* gate, const float* up, int64_t n, float* out) {
      // exp(-g) overflows to inf for g < -88.7, and g / inf = -0: finite for finite inputs.
      for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.f + std::exp(-gate[i])) * up[i];
    },
    gemv_t<load_f32, float>,
    gemv_t<load_bf16, uint16_t>,
    gemv_t<load_f16, uint16_t>,
};

}  // namespace

const KernelTable& scalar_table() { return kTable; }

}  // namespace slotlm::kernels::detail
