// SPDX-License-Identifier: MIT
// Internal to src/kernels: the per-ISA kernel tables, each defined in a source compiled with that
// ISA's target flags (see src/kernels/CMakeLists.txt). Only dispatch.cpp and tests use these.
#pragma once

#include "kernels/dispatch.h"

namespace slotlm::kernels::detail {

const KernelTable& scalar_table();  // ref/ref_kernels.cpp, no ISA flags: the reference
const KernelTable& avx2_table();    // isa/kernels_avx2.cpp, -mavx2 -mfma -mf16c
const KernelTable& avx512_table();  // isa/kernels_avx512.cpp, -mavx512f/bw/vl/bf16 -mfma

}  // namespace slotlm::kernels::detail
