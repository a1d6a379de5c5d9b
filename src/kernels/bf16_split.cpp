// SPDX-License-Identifier: MIT
#include "kernels/bf16_split.h"

#include <algorithm>
#include <vector>

#include "core/aligned.h"
#include "kernels/dispatch.h"

namespace slotlm::kernels::detail {

uint16_t* bf16_terms_buffer(int64_t rows, int64_t cols, int terms, int64_t rows_pad, int slot) {
  thread_local AlignedVector<uint16_t> buf[2];
  AlignedVector<uint16_t>& xb = buf[slot];
  xb.resize(size_t(terms * rows_pad * cols));
  uint16_t* xbp = xb.data();  // the caller's buffer (thread_local names differ per thread)
  for (int term = 0; term < terms; ++term)
    std::fill(xbp + (term * rows_pad + rows) * cols, xbp + (term + 1) * rows_pad * cols, uint16_t(0));
  return xbp;
}

const uint16_t* split_bf16_terms(const float* x, int64_t rows, int64_t cols, int terms, int64_t rows_pad,
                                 int slot) {
  uint16_t* xbp = bf16_terms_buffer(rows, cols, terms, rows_pad, slot);
  const KernelTable& t = kernel_table();
#pragma omp parallel if (rows * cols >= (1 << 15))
  {
    std::vector<float> rest(static_cast<size_t>(cols)), back(static_cast<size_t>(cols));
#pragma omp for schedule(static)
    for (int64_t i = 0; i < rows; ++i) {
      std::copy_n(x + i * cols, cols, rest.data());
      for (int term = 0; term < terms; ++term) {
        uint16_t* dst = xbp + (term * rows_pad + i) * cols;
        t.f32_to_bf16(rest.data(), cols, dst);
        if (term + 1 < terms) {
          t.bf16_to_f32(dst, cols, back.data());
          for (int64_t j = 0; j < cols; ++j) rest[size_t(j)] -= back[size_t(j)];  // exact (Sterbenz)
        }
      }
    }
  }
  return xbp;
}

}  // namespace slotlm::kernels::detail
