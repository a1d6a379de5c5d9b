// SPDX-License-Identifier: MIT
#include "kernels/matmul.h"

#include <omp.h>

#include <algorithm>
#include <vector>

namespace slotlm::kernels {

// GCC function multi-versioning: one clone per ISA, picked at load time from cpuid.
#define SLOTLM_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

SLOTLM_CLONES float dot_f32(const float* a, const float* b, int64_t n) {
  float acc = 0.f;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; ++i) acc += a[i] * b[i];
  return acc;
}

SLOTLM_CLONES static void bf16_row_to_f32(const uint16_t* src, int64_t n, float* dst) {
  uint32_t* d = reinterpret_cast<uint32_t*>(dst);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) d[i] = uint32_t(src[i]) << 16;
}

void convert_to_f32(const void* src, DType t, int64_t n, float* dst) {
  switch (t) {
    case DType::kF32:
      std::copy_n(static_cast<const float*>(src), n, dst);
      break;
    case DType::kBF16:
      bf16_row_to_f32(static_cast<const uint16_t*>(src), n, dst);
      break;
    case DType::kF16: {
      const uint16_t* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      break;
    }
  }
}

namespace {
constexpr int64_t kRowBlock = 16;  // weight rows converted together, reused across all n rows of x
// Below this many multiply-adds a parallel region costs more than it saves (thread wake-up is
// ~microseconds, worse when cores are shared).
constexpr int64_t kMinParallelWork = 1 << 16;
}

void matmul(const float* x, int64_t n, const MatView& w, const float* bias, float* y) {
  const int64_t m = w.rows, k = w.cols;
  const int64_t n_blocks = (m + kRowBlock - 1) / kRowBlock;
#pragma omp parallel if (n * m * k >= kMinParallelWork)
  {
    std::vector<float> buf(w.dtype == DType::kF32 ? 0 : size_t(kRowBlock * k));
#pragma omp for schedule(static)
    for (int64_t b = 0; b < n_blocks; ++b) {
      const int64_t r0 = b * kRowBlock, r1 = std::min(m, r0 + kRowBlock);
      const float* rows;
      if (w.dtype == DType::kF32) {
        rows = reinterpret_cast<const float*>(w.row_ptr(r0));
      } else {
        convert_to_f32(w.row_ptr(r0), w.dtype, (r1 - r0) * k, buf.data());
        rows = buf.data();
      }
      for (int64_t i = 0; i < n; ++i) {
        const float* xi = x + i * k;
        float* yi = y + i * m;
        for (int64_t r = r0; r < r1; ++r) {
          float acc = dot_f32(xi, rows + (r - r0) * k, k);
          yi[r] = bias ? acc + bias[r] : acc;
        }
      }
    }
  }
}

SLOTLM_CLONES static void axpy(float a, const float* x, int64_t n, float* y) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

void matvec_t(const float* x, const MatView& w, float* y) {
  const int64_t m = w.rows, k = w.cols;
  const int n_thr = omp_get_max_threads();
  std::vector<float> partial(size_t(n_thr) * size_t(k), 0.f);
#pragma omp parallel if (m * k >= kMinParallelWork)
  {
    const int t = omp_get_thread_num();
    float* acc = partial.data() + size_t(t) * size_t(k);
    std::vector<float> buf(w.dtype == DType::kF32 ? 0 : size_t(k));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < m; ++r) {
      if (x[r] == 0.f) continue;
      const float* row;
      if (w.dtype == DType::kF32) {
        row = reinterpret_cast<const float*>(w.row_ptr(r));
      } else {
        convert_to_f32(w.row_ptr(r), w.dtype, k, buf.data());
        row = buf.data();
      }
      axpy(x[r], row, k, acc);
    }
  }
  std::fill_n(y, k, 0.f);
  for (int t = 0; t < n_thr; ++t) axpy(1.f, partial.data() + size_t(t) * size_t(k), k, y);
}

}  // namespace slotlm::kernels
