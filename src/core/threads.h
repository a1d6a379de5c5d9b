// SPDX-License-Identifier: MIT
// Thread setup (core layer): one OpenMP runtime for our kernels and oneDNN.
#pragma once

namespace slotlm {

// Sets the OpenMP thread count; n <= 0 means all cores. Returns the count in force.
int set_threads(int n);
int n_threads();

}  // namespace slotlm
