// SPDX-License-Identifier: MIT
// Decode with the weights memory-mapped vs copied into transparent huge pages (core/mapped_file.h),
// IN ONE PROCESS: the model is loaded twice and the two copies decode in turn, 16 tokens each per
// iteration, so the host's drift hits both alike. Counters: median ms per token of each variant.
// Run: SLOTLM_BENCH_MODEL=models/qwen2.5-0.5b ./build/bench/bench_weight_memory
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <vector>

#include "core/mapped_file.h"
#include "model/model.h"

namespace {

using namespace slotlm;

constexpr int64_t kTokens = 16;  // decode steps per variant per iteration

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

std::unique_ptr<model::Model> load(const char* dir, bool mapped) {
  setenv("SLOTLM_HUGEPAGES", mapped ? "0" : "1", 1);
  auto m = model::Model::load(dir);
  unsetenv("SLOTLM_HUGEPAGES");
  return m;
}

// arg: sequences decoding in lock step (1: forward + lm_head per token; > 1: forward_batch).
void BM_DecodeMappedVsHugePages(benchmark::State& st) {
  const char* dir = std::getenv("SLOTLM_BENCH_MODEL");
  if (!dir || !*dir) {
    st.SkipWithError("set SLOTLM_BENCH_MODEL to a model folder (e.g. models/qwen2.5-0.5b)");
    return;
  }
  if (!transparent_huge_pages_available()) {
    st.SkipWithError("transparent huge pages are off on this kernel");
    return;
  }
  const size_t B = size_t(st.range(0));
  std::unique_ptr<model::Model> models[2] = {load(dir, true), load(dir, false)};
  const int64_t d = models[0]->d_model(), V = models[0]->n_vocab();
  model::Workspace ws;
  std::vector<float> h(B * size_t(d)), logits(B * size_t(V));
  std::vector<double> ms[2];
  for (auto _ : st) {
    for (int v = 0; v < 2; ++v) {
      const model::Model& m = *models[v];
      std::vector<model::KvCache> caches;
      std::vector<model::KvCache*> ptrs;
      for (size_t b = 0; b < B; ++b) caches.push_back(m.new_cache(kTokens));
      for (auto& c : caches) ptrs.push_back(&c);
      std::vector<int32_t> ids(B);
      for (size_t b = 0; b < B; ++b) ids[b] = int32_t(1 + 17 * b);
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t i = 0; i < kTokens; ++i) {
        if (B == 1)
          m.forward(ids, caches[0], ws, h.data());
        else
          m.forward_batch(ids, ptrs, ws, h.data());
        m.lm_head(h.data(), int64_t(B), logits.data());
        for (size_t b = 0; b < B; ++b) {
          const float* row = logits.data() + b * size_t(V);
          ids[b] = int32_t(std::max_element(row, row + V) - row);
        }
      }
      ms[v].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() /
                      double(kTokens));
    }
  }
  st.counters["mapped_ms_per_step"] = median(ms[0]);
  st.counters["hugepages_ms_per_step"] = median(ms[1]);
}
BENCHMARK(BM_DecodeMappedVsHugePages)->Arg(1)->Arg(8)->ArgNames({"batch"})->Iterations(12)->UseRealTime();

// A 512-token prefill from each copy in turn: the huge-page copy also puts the tensor data on a
// cache line (the safetensors data section sits at 32 mod 64 in the file), which the AMX weight
// re-layout loads read whole.
void BM_Prefill512MappedVsHugePages(benchmark::State& st) {
  const char* dir = std::getenv("SLOTLM_BENCH_MODEL");
  if (!dir || !*dir) {
    st.SkipWithError("set SLOTLM_BENCH_MODEL to a model folder (e.g. models/qwen2.5-0.5b)");
    return;
  }
  if (!transparent_huge_pages_available()) {
    st.SkipWithError("transparent huge pages are off on this kernel");
    return;
  }
  std::unique_ptr<model::Model> models[2] = {load(dir, true), load(dir, false)};
  const int64_t n = 512;
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = int32_t((i * 7919) % models[0]->n_vocab());
  model::Workspace ws;
  std::vector<float> hidden(size_t(n * models[0]->d_model()));
  std::vector<double> ms[2];
  for (auto _ : st) {
    for (int v = 0; v < 2; ++v) {
      auto cache = models[v]->new_cache(n);
      const auto t0 = std::chrono::steady_clock::now();
      models[v]->forward(ids, cache, ws, hidden.data());
      ms[v].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  st.counters["mapped_ms"] = median(ms[0]);
  st.counters["hugepages_ms"] = median(ms[1]);
}
BENCHMARK(BM_Prefill512MappedVsHugePages)->Iterations(12)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
