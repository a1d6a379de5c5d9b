// SPDX-License-Identifier: MIT
// Non-owning tensor views (core layer): a pointer, a dtype and a row-major shape, last dimension
// contiguous. Whoever made the view keeps the memory alive (a MappedFile or an owned buffer).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace slotlm {

struct TensorView {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // row-major, last dimension contiguous

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype); }
  int64_t dim(int i) const { return shape.at(size_t(i)); }
  std::string shape_str() const;
};

// A row-major matrix `[rows, cols]` of any weight dtype; what matmul kernels consume.
struct MatView {
  const void* data = nullptr;
  DType dtype = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  // The same bf16 matrix re-laid out once at load for the AMX tiles (kernels::pack_amx_tiles), or
  // null. The AMX kernels and SLOT's W^T r (kernels::matvec_t, on AVX-512) read it instead of
  // `data`; every other path reads `data` (the file's pages, faulted in again if given back).
  const void* tiles = nullptr;
  // The same bf16 matrix laid out once at load in oneDNN's blocked layout (kernels::pack_blocked,
  // on CPUs with AVX512-BF16 and no AMX), or null: the prefill's oneDNN products and the decode
  // dot products read it instead of `data`.
  const void* blocked = nullptr;

  const uint8_t* row_ptr(int64_t r) const {
    return static_cast<const uint8_t*>(data) + size_t(r) * size_t(cols) * dtype_size(dtype);
  }
};

}  // namespace slotlm
