// SPDX-License-Identifier: MIT
// Benchmarks only: the model folder the whole-model comparisons run on (env SLOTLM_BENCH_MODEL),
// or a skip that says what is missing.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdlib>

#include "kernels/matmul.h"

namespace slotlm::bench {

// SLOTLM_BENCH_MODEL when it is set; otherwise marks `st` skipped and returns null.
inline const char* bench_model(benchmark::State& st) {
  const char* dir = std::getenv("SLOTLM_BENCH_MODEL");
  if (!dir || !*dir) {
    st.SkipWithError("set SLOTLM_BENCH_MODEL to a model folder (e.g. models/qwen2.5-0.5b)");
    return nullptr;
  }
  return dir;
}

// bench_model() when AMX is usable too; otherwise marks `st` skipped and returns null.
inline const char* amx_bench_model(benchmark::State& st) {
  const char* dir = bench_model(st);
  if (!dir) return nullptr;
  if (!kernels::amx_enabled()) {
    st.SkipWithError("no AMX-BF16 here");
    return nullptr;
  }
  return dir;
}

}  // namespace slotlm::bench
