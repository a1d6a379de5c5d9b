// SPDX-License-Identifier: MIT
#include "core/dtype.h"

namespace slotlm {

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "f32";
    case DType::kBF16: return "bf16";
    case DType::kF16: return "f16";
  }
  return "?";
}

bool parse_safetensors_dtype(std::string_view name, DType* out) {
  if (name == "F32") *out = DType::kF32;
  else if (name == "BF16") *out = DType::kBF16;
  else if (name == "F16") *out = DType::kF16;
  else return false;
  return true;
}

}  // namespace slotlm
