// SPDX-License-Identifier: MIT
// Decode matrix-product paths side by side IN ONE PROCESS, alternating every iteration: bf16 weights
// on AMX tiles (isa/amx_gemv.h) vs the AVX-512 FMA gemv (kernels::set_amx_enabled), per product and
// for whole decode steps of a model (there also AMX on the weights laid out at load vs on the
// file's rows, kernels::set_amx_tiles_enabled); without AMX, the AVX512-BF16 dot products
// (isa/dot_gemv.h, `fast`: 1 bf16 term) vs the FMA gemv (kernels::set_bf16_dot_enabled).
// Counters: median milliseconds of each variant.
// Run: ./build/bench/bench_decode_paths
//      SLOTLM_BENCH_MODEL=models/qwen2.5-0.5b ./build/bench/bench_decode_paths  (adds BM_DecodeStep)
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "core/aligned.h"
#include "core/dtype.h"
#include "core/tensor.h"
#include "bench_model.h"
#include "interleave.h"
#include "kernels/matmul.h"
#include "model/model.h"

namespace {

using namespace slotlm;
using bench::interleave;

// args: m, k, n, offset. y = x W^T, bf16 W `[m, k]` starting `offset` bytes past a cache line (the
// mapped safetensors of the benchmark models start their tensors 32 bytes in), n activation rows;
// weight bytes / ms is the number to hold against the DRAM read bandwidth (bench_ceiling).
void BM_GemvAmxVsFma(benchmark::State& st) {
  const int64_t m = st.range(0), k = st.range(1), n = st.range(2), offset = st.range(3);
  if (!kernels::amx_enabled()) {
    st.SkipWithError("no AMX-BF16 here");
    return;
  }
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.f, 1.f);
  AlignedVector<uint16_t> w(size_t(m * k + 32));
  for (auto& v : w) v = f32_to_bf16(0.05f * d(rng));
  AlignedVector<float> x(size_t(n * k)), y(size_t(n * m));
  for (auto& v : x) v = d(rng);
  const MatView mv{w.data() + offset / 2, DType::kBF16, m, k};
  auto run = [&](bool amx) {
    return [&, amx] {
      kernels::set_amx_enabled(amx);
      kernels::matmul(x.data(), n, mv, nullptr, y.data());
    };
  };
  interleave(st, {{"amx", run(true)}, {"fma", run(false)}});
  kernels::set_amx_enabled(true);
}
BENCHMARK(BM_GemvAmxVsFma)
    ->ArgsProduct({{4864}, {896}, {1, 8}, {0, 32}})
    ->ArgsProduct({{896}, {4864}, {1, 8}, {0, 32}})
    ->ArgsProduct({{151936}, {896}, {1, 8}, {0, 32}})
    ->ArgNames({"m", "k", "n", "offset"})
    ->Iterations(30)
    ->UseRealTime();

// As BM_GemvAmxVsFma, for the AVX512-BF16 dot products at 1 term vs the FMA gemv (f32 exact).
void BM_GemvDotVsFma(benchmark::State& st) {
  const int64_t m = st.range(0), k = st.range(1), n = st.range(2), offset = st.range(3);
  if (kernels::amx_enabled()) kernels::set_amx_enabled(false);
  kernels::set_bf16_gemm_terms(1);
  if (!kernels::bf16_dot_enabled()) {
    st.SkipWithError("no AVX512-BF16 here");
    return;
  }
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.f, 1.f);
  AlignedVector<uint16_t> w(size_t(m * k + 32));
  for (auto& v : w) v = f32_to_bf16(0.05f * d(rng));
  AlignedVector<float> x(size_t(n * k)), y(size_t(n * m));
  for (auto& v : x) v = d(rng);
  const MatView mv{w.data() + offset / 2, DType::kBF16, m, k};
  auto run = [&](bool dot) {
    return [&, dot] {
      kernels::set_bf16_dot_enabled(dot);
      kernels::matmul(x.data(), n, mv, nullptr, y.data());
    };
  };
  interleave(st, {{"dot", run(true)}, {"fma", run(false)}});
  kernels::set_bf16_dot_enabled(true);
  kernels::set_bf16_gemm_terms(2);
  kernels::set_amx_enabled(true);
}
BENCHMARK(BM_GemvDotVsFma)
    ->ArgsProduct({{4864}, {896}, {1, 8}, {0}})
    ->ArgsProduct({{896}, {4864}, {1, 8}, {0}})
    ->ArgsProduct({{151936}, {896}, {1, 8}, {0}})
    ->ArgNames({"m", "k", "n", "offset"})
    ->Iterations(30)
    ->UseRealTime();

// arg: batch. One decode step of `batch` sequences (each 64 tokens in) of the model in
// SLOTLM_BENCH_MODEL: the layers and the LM head, as generation runs them.
void BM_DecodeStep(benchmark::State& st) {
  const char* dir = bench::amx_bench_model(st);
  if (!dir) return;
  const int64_t batch = st.range(0), n_ctx = 64;
  auto model = model::Model::load(dir);
  std::vector<int32_t> prompt(static_cast<size_t>(n_ctx));
  for (int64_t i = 0; i < n_ctx; ++i) prompt[size_t(i)] = int32_t((i * 7919) % model->n_vocab());
  model::Workspace ws;
  std::vector<float> hidden(size_t(n_ctx * model->d_model()));
  std::vector<model::KvCache> caches;
  for (int64_t b = 0; b < batch; ++b) {
    caches.push_back(model->new_cache(n_ctx + 1));
    model->forward(prompt, caches.back(), ws, hidden.data());
  }
  std::vector<model::KvCache*> ptrs;
  for (auto& c : caches) ptrs.push_back(&c);
  std::vector<int32_t> tokens(static_cast<size_t>(batch), 42);
  std::vector<float> logits(size_t(batch * model->n_vocab()));
  auto run = [&](bool amx, bool tiles) {
    return [&, amx, tiles] {
      kernels::set_amx_enabled(amx);
      kernels::set_amx_tiles_enabled(tiles);
      for (auto& c : caches) c.set_n_past(n_ctx);
      model->forward_batch(tokens, ptrs, ws, hidden.data());
      model->lm_head(hidden.data(), batch, logits.data());
    };
  };
  interleave(st, {{"amx_tiles", run(true, true)}, {"amx_plain", run(true, false)}, {"fma", run(false, false)}});
  kernels::set_amx_enabled(true);
  kernels::set_amx_tiles_enabled(true);
}
BENCHMARK(BM_DecodeStep)->Arg(1)->Arg(8)->ArgNames({"batch"})->Iterations(30)->UseRealTime();

// args: batch. BM_DecodeStep at `fast` (1 bf16 term) without AMX: the AVX512-BF16 dot products vs
// the FMA gemv, on the model in SLOTLM_BENCH_MODEL.
void BM_DecodeStepDotVsFma(benchmark::State& st) {
  const char* dir = bench::bench_model(st);
  if (!dir) return;
  if (kernels::amx_enabled()) kernels::set_amx_enabled(false);
  kernels::set_bf16_gemm_terms(1);
  if (!kernels::bf16_dot_enabled()) {
    st.SkipWithError("no AVX512-BF16 here");
    return;
  }
  const int64_t batch = st.range(0), n_ctx = 64;
  auto model = model::Model::load(dir);
  std::vector<int32_t> prompt(static_cast<size_t>(n_ctx));
  for (int64_t i = 0; i < n_ctx; ++i) prompt[size_t(i)] = int32_t((i * 7919) % model->n_vocab());
  model::Workspace ws;
  std::vector<float> hidden(size_t(n_ctx * model->d_model()));
  std::vector<model::KvCache> caches;
  for (int64_t b = 0; b < batch; ++b) {
    caches.push_back(model->new_cache(n_ctx + 1));
    model->forward(prompt, caches.back(), ws, hidden.data());
  }
  std::vector<model::KvCache*> ptrs;
  for (auto& c : caches) ptrs.push_back(&c);
  std::vector<int32_t> tokens(static_cast<size_t>(batch), 42);
  std::vector<float> logits(size_t(batch * model->n_vocab()));
  auto run = [&](bool dot) {
    return [&, dot] {
      kernels::set_bf16_dot_enabled(dot);
      for (auto& c : caches) c.set_n_past(n_ctx);
      model->forward_batch(tokens, ptrs, ws, hidden.data());
      model->lm_head(hidden.data(), batch, logits.data());
    };
  };
  interleave(st, {{"dot", run(true)}, {"fma", run(false)}});
  kernels::set_bf16_dot_enabled(true);
  kernels::set_bf16_gemm_terms(2);
  kernels::set_amx_enabled(true);
}
BENCHMARK(BM_DecodeStepDotVsFma)->Arg(1)->Arg(8)->ArgNames({"batch"})->Iterations(30)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
