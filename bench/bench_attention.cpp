// SPDX-License-Identifier: MIT
// Attention paths side by side on the Qwen2.5-0.5B shape (14 query heads, 2 KV heads, d_head 64):
// `path` 0 = attention_rowwise (per token, blocks of 128 keys), 1 = attention() (the blocked path
// for prefill on scalar and AVX-512; AVX2 keeps rowwise), per ISA, in one process so that a noisy
// machine affects both alike.
// Run: ./build/bench/bench_attention [--benchmark_filter=..]
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "interleave.h"
#include "kernels/attention.h"
#include "kernels/dispatch.h"
#include "kernels/matmul.h"  // amx_enabled

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

// attention() at the 0.5B shape with bf16_products (counter `<bf16_name>_ms`) and without (the
// f32 blocked path, `f32_ms`), alternating every iteration (bench::interleave): median ms of each.
void attention_bf16_vs_f32(benchmark::State& st, const char* bf16_name) {
  const int64_t n_tok = st.range(0), n_past = st.range(1);
  std::vector<float> q = random_f32(size_t(n_tok * 14 * 64), 1), out(q.size());
  std::vector<float> k = random_f32(size_t((n_past + n_tok) * 2 * 64), 2);
  std::vector<float> v = random_f32(k.size(), 3);
  auto run = [&](bool bf16) {
    return [&, bf16] {
      const kernels::AttentionShape s{14, 2, 64, bf16};
      kernels::attention(q.data(), n_tok, n_past, k.data(), v.data(), s, out.data());
      benchmark::DoNotOptimize(out.data());
    };
  };
  bench::interleave(st, {{bf16_name, run(true)}, {"f32", run(false)}});
}

// The shapes both comparisons run: a prompt, a chunk after a prompt, a long prompt.
void bf16_vs_f32_shapes(benchmark::internal::Benchmark* b) {
  b->Args({512, 0})->Args({128, 384})->Args({2048, 0})->ArgNames({"n_tok", "n_past"})->Iterations(40)->UseRealTime();
}

// args: n_tok, n_past. attention() on AVX-512 with bf16_products on AMX tiles (the `fast`
// precision) vs the f32 blocked path.
void BM_AttentionAmxVsF32(benchmark::State& st) {
  kernels::set_isa(kernels::Isa::kAvx512);
  if (!kernels::amx_enabled()) {
    kernels::set_isa(kernels::detect_isa());
    st.SkipWithError("no AMX-BF16 here");
    return;
  }
  attention_bf16_vs_f32(st, "amx_bf16");
  kernels::set_isa(kernels::detect_isa());
}
BENCHMARK(BM_AttentionAmxVsF32)->Apply(bf16_vs_f32_shapes);

// args: n_tok, n_past. As BM_AttentionAmxVsF32 without AMX: attention() with bf16_products on
// AVX512-BF16 dot products (`fast`: 1 bf16 term) vs the f32 blocked path.
void BM_AttentionDotVsF32(benchmark::State& st) {
  kernels::set_isa(kernels::Isa::kAvx512);
  kernels::set_bf16_gemm_terms(1);
  if (!kernels::bf16_dot_enabled()) {
    kernels::set_bf16_gemm_terms(2);
    kernels::set_isa(kernels::detect_isa());
    st.SkipWithError("no AVX512-BF16 here, or AMX takes these products");
    return;
  }
  attention_bf16_vs_f32(st, "dot_bf16");
  kernels::set_bf16_gemm_terms(2);
  kernels::set_isa(kernels::detect_isa());
}
BENCHMARK(BM_AttentionDotVsF32)->Apply(bf16_vs_f32_shapes);

}  // namespace

BENCHMARK_MAIN();
