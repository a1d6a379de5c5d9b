// SPDX-License-Identifier: MIT
#include "core/threads.h"

#include <omp.h>

namespace slotlm {

int set_threads(int n) {
  if (n <= 0) n = omp_get_num_procs();
  omp_set_num_threads(n);
  return n;
}

int n_threads() { return omp_get_max_threads(); }

}  // namespace slotlm
