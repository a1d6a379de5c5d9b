// SPDX-License-Identifier: MIT
#include "kernels/ops.h"

#include <cmath>
#include <limits>

namespace slotlm::kernels {

void rmsnorm(const float* x, const float* w, float eps, int64_t n, int64_t d, float* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = x + i * d;
    float* oi = out + i * d;
    float ss = 0.f;
#pragma omp simd reduction(+ : ss)
    for (int64_t j = 0; j < d; ++j) ss += xi[j] * xi[j];
    const float scale = 1.f / std::sqrt(ss / float(d) + eps);
#pragma omp simd
    for (int64_t j = 0; j < d; ++j) oi[j] = w[j] * (xi[j] * scale);
  }
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float g = gate[i];
    out[i] = g / (1.f + std::exp(-g)) * up[i];
  }
}

double softmax_inplace(float* x, int64_t n) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = float(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
  return std::log(sum) + double(mx);
}

int64_t argmax(const float* x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

void rope_angles(const double* inv_freq, int64_t half, int64_t pos, float* cos_out, float* sin_out) {
  for (int64_t i = 0; i < half; ++i) {
    // HF computes the angle in f32 (`position * inv_freq`); double keeps us at least as close to
    // the float64 reference.
    const double a = double(pos) * inv_freq[i];
    cos_out[i] = float(std::cos(a));
    sin_out[i] = float(std::sin(a));
  }
}

void rope_apply(float* x, int64_t n_head, int64_t d_head, const float* c, const float* s) {
  const int64_t h = d_head / 2;
  for (int64_t hd = 0; hd < n_head; ++hd) {
    float* v = x + hd * d_head;
#pragma omp simd
    for (int64_t i = 0; i < h; ++i) {
      const float x1 = v[i], x2 = v[i + h];
      v[i] = x1 * c[i] - x2 * s[i];
      v[i + h] = x2 * c[i] + x1 * s[i];
    }
  }
}

}  // namespace slotlm::kernels
