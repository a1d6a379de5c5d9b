// SPDX-License-Identifier: MIT
#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/dispatch.h"

namespace slotlm::kernels {

namespace {

// Element count from which a kernel opens an OpenMP parallel region. Below it (decode: one token,
// a few thousand elements) waking the other threads costs more than the work.
constexpr int64_t kMinParallelElems = int64_t(1) << 15;
// silu_mul's unit of parallel work: 16 KiB per array, a multiple of every SIMD width.
constexpr int64_t kSiluChunk = 4096;

void rmsnorm_row(const float* x, const float* w, float eps, int64_t d, float* out) {
  float ss = 0.f;
#pragma omp simd reduction(+ : ss)
  for (int64_t j = 0; j < d; ++j) ss += x[j] * x[j];
  const float scale = 1.f / std::sqrt(ss / float(d) + eps);
#pragma omp simd
  for (int64_t j = 0; j < d; ++j) out[j] = w[j] * (x[j] * scale);
}

}  // namespace

void rmsnorm(const float* x, const float* w, float eps, int64_t n, int64_t d, float* out) {
#pragma omp parallel for schedule(static) if (n * d >= kMinParallelElems)
  for (int64_t i = 0; i < n; ++i) rmsnorm_row(x + i * d, w, eps, d, out + i * d);
}

void silu_mul(const float* gate, const float* up, int64_t n, float* out) {
  // The table is fetched here: its first use may throw (bad SLOTLM_ISA), which must not happen
  // inside a parallel region.
  const KernelTable& tab = kernel_table();
  if (n < kMinParallelElems) {
    tab.silu_mul(gate, up, n, out);
    return;
  }
  const int64_t n_chunk = (n + kSiluChunk - 1) / kSiluChunk;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < n_chunk; ++c) {
    const int64_t i = c * kSiluChunk;
    tab.silu_mul(gate + i, up + i, std::min(kSiluChunk, n - i), out + i);
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

float exp_shifted(const float* x, int64_t n, float shift, float* out) {
  return kernel_table().exp_sum(x, n, shift, 1.f, out);
}

float max_value(const float* x, int64_t n) { return kernel_table().max_f32(x, n); }

int64_t argmax(const float* x, int64_t n) {
  // The vectorised maximum, then the first element equal to it: a predictable branch, where the
  // running comparison was not (151936 logits: ~0.1 ms per token that way).
  // A NaN in a SIMD lane can hide a larger value from the maximum; then nothing may exceed it.
  const float mx = max_value(x, n);
  int above = 0;
#pragma omp simd reduction(| : above)
  for (int64_t i = 0; i < n; ++i) above |= int(x[i] > mx);
  if (!above)
    for (int64_t i = 0; i < n; ++i)
      if (x[i] == mx) return i;
  int64_t best = 0;  // NaN among the values: the first largest of the comparable ones
  for (int64_t i = 1; i < n; ++i)
    if (x[i] > x[best] || x[best] != x[best]) best = i;
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

void rope_apply_rows(float* x, int64_t n_tok, int64_t ld, int64_t n_head, int64_t d_head,
                     const float* c, const float* s) {
  const int64_t h = d_head / 2;
#pragma omp parallel for schedule(static) if (n_tok * n_head * d_head >= kMinParallelElems)
  for (int64_t t = 0; t < n_tok; ++t) rope_apply(x + t * ld, n_head, d_head, c + t * h, s + t * h);
}

}  // namespace slotlm::kernels
