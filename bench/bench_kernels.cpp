// SPDX-License-Identifier: MIT
// Micro-benchmarks of the kernels on Qwen2.5-0.5B shapes: decode gemv (bytes/s of weights streamed),
// prefill GEMM through oneDNN (FLOP/s), attention, silu*mul.
// Run: ./build/bench/bench_kernels [--benchmark_filter=..]
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "core/dtype.h"
#include "core/tensor.h"
#include "kernels/attention.h"
#include "kernels/dispatch.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"

namespace {

using namespace slotlm;

std::vector<uint16_t> random_bf16(size_t n) {
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.f, 0.05f);
  std::vector<uint16_t> v(n);
  for (auto& x : v) x = f32_to_bf16(d(rng));
  return v;
}

std::vector<float> random_f32(size_t n) {
  std::mt19937 rng(2);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// args: m, k, n, isa. Weight bytes per second is the number to compare with memory bandwidth.
void BM_MatmulBf16(benchmark::State& st) {
  const int64_t m = st.range(0), k = st.range(1), n = st.range(2);
  kernels::set_isa(kernels::Isa(st.range(3)));
  std::vector<uint16_t> w = random_bf16(size_t(m * k));
  std::vector<float> x = random_f32(size_t(n * k)), y(size_t(n * m));
  const MatView mv{w.data(), DType::kBF16, m, k};
  for (auto _ : st) {
    kernels::matmul(x.data(), n, mv, nullptr, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["weight_B/s"] = benchmark::Counter(double(m * k * 2), benchmark::Counter::kIsIterationInvariantRate);
  st.counters["FLOP/s"] = benchmark::Counter(2.0 * double(m * k * n), benchmark::Counter::kIsIterationInvariantRate);
  kernels::set_isa(kernels::detect_isa());
}

void DecodeArgs(benchmark::internal::Benchmark* b) {
  for (int isa = 0; isa < 3; ++isa) {
    if (!kernels::isa_supported(kernels::Isa(isa))) continue;
    for (auto mk : {std::pair<int64_t, int64_t>{4864, 896}, {896, 4864}, {151936, 896}})
      for (int64_t n : {1, 4, 8}) b->Args({mk.first, mk.second, n, isa});
  }
}
BENCHMARK(BM_MatmulBf16)->Apply(DecodeArgs)->UseRealTime()->ArgNames({"m", "k", "n", "isa"});
BENCHMARK(BM_MatmulBf16)
    ->Args({4864, 896, 512, 2})
    ->Args({896, 4864, 512, 2})
    ->Args({896, 896, 512, 2})
    ->UseRealTime()
    ->ArgNames({"m", "k", "n", "isa"});

// args: n_tok, n_past (Qwen2.5-0.5B heads: 14 query, 2 KV, d_head 64).
void BM_Attention(benchmark::State& st) {
  const int64_t n_tok = st.range(0), n_past = st.range(1);
  const kernels::AttentionShape s{14, 2, 64};
  std::vector<float> q = random_f32(size_t(n_tok * 14 * 64)), out(q.size());
  std::vector<float> k = random_f32(size_t((n_past + n_tok) * 2 * 64)), v = k;
  for (auto _ : st) {
    kernels::attention(q.data(), n_tok, n_past, k.data(), v.data(), s, out.data());
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_Attention)->Args({1, 512})->Args({512, 0})->UseRealTime()->ArgNames({"n_tok", "n_past"});

// args: n, isa. silu(gate) * up into a separate output (keeps the inputs fixed; the model writes in
// place): 4864 = one decode token's d_ff, 512 * 4864 = a prefill batch (threaded in chunks).
// B/s counts gate, up and out.
void BM_SiluMul(benchmark::State& st) {
  const int64_t n = st.range(0);
  kernels::set_isa(kernels::Isa(st.range(1)));
  const std::vector<float> g = random_f32(size_t(n)), u = random_f32(size_t(n));
  std::vector<float> out(static_cast<size_t>(n));
  for (auto _ : st) {
    kernels::silu_mul(g.data(), u.data(), n, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  st.counters["B/s"] =
      benchmark::Counter(12.0 * double(n), benchmark::Counter::kIsIterationInvariantRate);
  kernels::set_isa(kernels::detect_isa());
}
void SiluArgs(benchmark::internal::Benchmark* b) {
  for (int isa = 0; isa < 3; ++isa)
    if (kernels::isa_supported(kernels::Isa(isa)))
      for (int64_t n : {4864, 512 * 4864}) b->Args({n, isa});
}
BENCHMARK(BM_SiluMul)->Apply(SiluArgs)->UseRealTime()->ArgNames({"n", "isa"});

}  // namespace

BENCHMARK_MAIN();
