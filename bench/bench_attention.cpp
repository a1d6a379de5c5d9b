// SPDX-License-Identifier: MIT
// Attention paths side by side on the Qwen2.5-0.5B shape (14 query heads, 2 KV heads, d_head 64):
// `path` 0 = attention_rowwise (one gemv per token and KV head), 1 = attention() (the blocked path
// for prefill on scalar and AVX-512; AVX2 keeps rowwise), per ISA, in one process so that a noisy
// machine affects both alike.
// Run: ./build/bench/bench_attention [--benchmark_filter=..]
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "kernels/attention.h"
#include "kernels/dispatch.h"

namespace {

using namespace slotlm;

std::vector<float> random_f32(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// args: n_tok, n_past, path, isa.
void BM_AttentionPath(benchmark::State& st) {
  const int64_t n_tok = st.range(0), n_past = st.range(1);
  const bool blocked = st.range(2) != 0;
  kernels::set_isa(kernels::Isa(st.range(3)));
  const kernels::AttentionShape s{14, 2, 64};
  std::vector<float> q = random_f32(size_t(n_tok * 14 * 64), 1), out(q.size());
  std::vector<float> k = random_f32(size_t((n_past + n_tok) * 2 * 64), 2);
  std::vector<float> v = random_f32(k.size(), 3);
  for (auto _ : st) {
    if (blocked)
      kernels::attention(q.data(), n_tok, n_past, k.data(), v.data(), s, out.data());
    else
      kernels::attention_rowwise(q.data(), n_tok, n_past, k.data(), v.data(), s, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  // Causal score and P.V multiply-adds, 2 FLOP each.
  const double n_pairs = double(n_tok) * double(n_past) + double(n_tok) * double(n_tok + 1) / 2;
  st.counters["FLOP/s"] =
      benchmark::Counter(4.0 * n_pairs * 14 * 64, benchmark::Counter::kIsIterationInvariantRate);
  kernels::set_isa(kernels::detect_isa());
}
void PathArgs(benchmark::internal::Benchmark* b) {
  for (int isa = 2; isa >= 0; --isa) {
    if (!kernels::isa_supported(kernels::Isa(isa))) continue;
    for (auto tp : {std::pair<int64_t, int64_t>{512, 0}, {128, 384}, {2048, 0}})
      for (int path = 0; path < 2; ++path) b->Args({tp.first, tp.second, path, isa});
  }
}
BENCHMARK(BM_AttentionPath)
    ->Apply(PathArgs)
    ->UseRealTime()
    ->ArgNames({"n_tok", "n_past", "path", "isa"});

}  // namespace

BENCHMARK_MAIN();
