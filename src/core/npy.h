// SPDX-License-Identifier: MIT
// NumPy .npy files of float32 (core layer): SLOT's delta is saved and loaded as `[d_model]`.
// Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html (v1.0/2.0).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace slotlm {

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;  // row-major
};

// Reads a little-endian float32 ('<f4'), C-order .npy; throws Error naming the file otherwise.
NpyArray read_npy_f32(const std::string& path);
// Writes `data` with `shape` as '<f4' .npy (v1.0), via a temporary file renamed into place.
void write_npy_f32(const std::string& path, const std::vector<int64_t>& shape, const float* data);

}  // namespace slotlm
