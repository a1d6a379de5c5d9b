// SPDX-License-Identifier: MIT
// blocked_pack and blocked_row (isa/blocked_gemv.h): plain C++, so the layout can be made, read and
// tested on any CPU.
#include <cstring>

#include "kernels/isa/blocked_gemv.h"

namespace slotlm::kernels::detail {

void blocked_pack(const uint16_t* w, int64_t rows, int64_t k, uint16_t* out) {
  const int64_t pairs = k / 2;
  // Per block: 64 rows of pairs transposed into pairs of 64 features, 16 pairs (64 bytes of each
  // row) at a time so reads and writes both stay within a few cache lines.
#pragma omp parallel for schedule(static) if (rows * k >= (int64_t(1) << 20))
  for (int64_t b = 0; b < rows / kBlockRows; ++b) {
    auto* dst = reinterpret_cast<uint32_t*>(out + b * kBlockRows * k);
    for (int64_t p0 = 0; p0 < pairs; p0 += 16)
      for (int64_t r = 0; r < kBlockRows; ++r) {
        const uint16_t* src = w + (b * kBlockRows + r) * k + p0 * 2;
        for (int64_t p = 0; p < 16 && p0 + p < pairs; ++p) {
          uint32_t v;
          std::memcpy(&v, src + 2 * p, sizeof v);
          dst[(p0 + p) * kBlockRows + r] = v;
        }
      }
  }
}

void blocked_row(const uint16_t* wb, int64_t k, int64_t r, float* out) {
  const uint16_t* b = wb + (r / kBlockRows) * kBlockRows * k + (r % kBlockRows) * 2;
  for (int64_t p = 0; p < k / 2; ++p)
    for (int l = 0; l < 2; ++l) {
      const uint32_t bits = uint32_t(b[p * 2 * kBlockRows + l]) << 16;
      std::memcpy(out + 2 * p + l, &bits, sizeof bits);
    }
}

}  // namespace slotlm::kernels::detail
