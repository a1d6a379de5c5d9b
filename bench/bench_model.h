// SPDX-License-Identifier: MIT
// Benchmarks only: the model folder the whole-model comparisons run on (env SLOTLM_BENCH_MODEL),
// or a skip that says what is missing.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>

#include "kernels/matmul.h"
#include "model/model.h"

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

// The model in `dir` loaded with the blocked layout (the default where kernels::blocked_wanted) or
// without it (env SLOTLM_BLOCKED_LAYOUT=0 during the load: the weights copied into huge pages as
// they are), for comparisons of the two in one process.
inline std::unique_ptr<model::Model> load_model(const char* dir, bool blocked) {
  if (blocked) return model::Model::load(dir);
  ::setenv("SLOTLM_BLOCKED_LAYOUT", "0", 1);
  auto m = model::Model::load(dir);
  ::unsetenv("SLOTLM_BLOCKED_LAYOUT");
  return m;
}

// bench_model() when the blocked layout is made here; otherwise marks `st` skipped and returns null.
inline const char* blocked_bench_model(benchmark::State& st) {
  const char* dir = bench_model(st);
  if (!dir) return nullptr;
  if (!kernels::blocked_wanted()) {
    st.SkipWithError("no blocked layout here (AMX, no AVX512-BF16, or SLOTLM_BLOCKED_LAYOUT=0)");
    return nullptr;
  }
  return dir;
}

}  // namespace slotlm::bench
