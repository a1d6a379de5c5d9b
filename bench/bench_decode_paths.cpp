// SPDX-License-Identifier: MIT
// Decode matrix-product paths side by side IN ONE PROCESS, alternating every iteration: bf16 weights
// on AMX tiles (isa/amx_gemv.h) vs the AVX-512 FMA gemv (kernels::set_amx_enabled), per product and
// for whole decode steps of a model (there also AMX on the weights laid out at load vs on the
// file's rows, kernels::set_amx_tiles_enabled); without AMX, the AVX512-BF16 dot products
// (isa/dot_gemv.h, `fast`: 1 bf16 term) vs the FMA gemv (kernels::set_bf16_dot_enabled), and the
// weights in oneDNN's blocked layout vs the plain rows (two loads of the model); and the threads'
// contiguous shares of the weights vs chunks handed out in turn (kernels::set_gemv_shares_enabled);
// batched decode on the blocked layout with and without the look-ahead into the next block
// (kernels::set_gemv_lookahead_enabled), and walking each block once per 8 rows vs per 4
// (kernels::set_gemv_wide_walks_enabled).
// Counters: median milliseconds of each variant.
// Run: ./build/bench/bench_decode_paths
//      SLOTLM_BENCH_MODEL=models/qwen2.5-0.5b ./build/bench/bench_decode_paths  (adds BM_DecodeStep)
#include <benchmark/benchmark.h>

#include <memory>
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

// Random bf16 W `[m, k]` starting `offset` bytes past a cache line (the mapped safetensors of the
// benchmark models start their tensors 32 bytes in) and x `[n, k]`; product() runs y = x W^T.
struct GemvInputs {
  int64_t n;
  AlignedVector<uint16_t> w;
  AlignedVector<float> x, y;
  MatView mv;
  GemvInputs(int64_t m, int64_t k, int64_t n_rows, int64_t offset)
      : n(n_rows), w(size_t(m * k + 32)), x(size_t(n_rows * k)), y(size_t(n_rows * m)) {
    std::mt19937 rng(1);
    std::normal_distribution<float> d(0.f, 1.f);
    for (auto& v : w) v = f32_to_bf16(0.05f * d(rng));
    for (auto& v : x) v = d(rng);
    mv = MatView{w.data() + offset / 2, DType::kBF16, m, k};
  }
  void product() { kernels::matmul(x.data(), n, mv, nullptr, y.data()); }
};

// `batch` sequences of the model in `dir` (with the blocked layout where it is made, unless
// `blocked` is false), each 64 tokens in; step() is one decode step of all of
// them (the layers and the LM head, as generation runs them), from the same position every time.
struct DecodeSteps {
  static constexpr int64_t kCtx = 64;
  std::unique_ptr<model::Model> model;
  model::Workspace ws;
  std::vector<float> hidden, logits;
  std::vector<model::KvCache> caches;
  std::vector<model::KvCache*> ptrs;
  std::vector<int32_t> tokens;
  DecodeSteps(const char* dir, int64_t batch, bool blocked = true)
      : model(bench::load_model(dir, blocked)), tokens(size_t(batch), 42) {
    std::vector<int32_t> prompt(static_cast<size_t>(kCtx));
    for (int64_t i = 0; i < kCtx; ++i) prompt[size_t(i)] = int32_t((i * 7919) % model->n_vocab());
    hidden.resize(size_t(kCtx * model->d_model()));
    logits.resize(size_t(batch * model->n_vocab()));
    for (int64_t b = 0; b < batch; ++b) {
      caches.push_back(model->new_cache(kCtx + 1));
      model->forward(prompt, caches.back(), ws, hidden.data());
    }
    for (auto& c : caches) ptrs.push_back(&c);
  }
  void step() {
    for (auto& c : caches) c.set_n_past(kCtx);
    model->forward_batch(tokens, ptrs, ws, hidden.data());
    model->lm_head(hidden.data(), int64_t(tokens.size()), logits.data());
  }
};

// The kernel settings the benchmarks switch, restored to the defaults when one ends (also when it
// skips after changing them).
struct RestoreDefaults {
  ~RestoreDefaults() {
    kernels::set_amx_enabled(true);
    kernels::set_amx_tiles_enabled(true);
    kernels::set_bf16_dot_enabled(true);
    kernels::set_bf16_gemm_terms(2);
    kernels::set_gemv_shares_enabled(true);
    kernels::set_gemv_lookahead_enabled(true);
    kernels::set_gemv_wide_walks_enabled(true);
  }
};

// `fast` (1 bf16 term) without AMX, where the AVX512-BF16 dot products take decode; false (and `st`
// marked skipped) on CPUs without them.
bool dot_products_ready(benchmark::State& st) {
  kernels::set_amx_enabled(false);
  kernels::set_bf16_gemm_terms(1);
  if (kernels::bf16_dot_enabled()) return true;
  st.SkipWithError("no AVX512-BF16 here");
  return false;
}

// args: m, k, n, offset. y = x W^T on GemvInputs, AMX tiles vs the FMA gemv; weight bytes / ms is
// the number to hold against the DRAM read bandwidth (bench_ceiling).
void BM_GemvAmxVsFma(benchmark::State& st) {
  if (!kernels::amx_enabled()) {
    st.SkipWithError("no AMX-BF16 here");
    return;
  }
  RestoreDefaults restore;
  GemvInputs in(st.range(0), st.range(1), st.range(2), st.range(3));
  auto run = [&](bool amx) {
    return [&, amx] {
      kernels::set_amx_enabled(amx);
      in.product();
    };
  };
  interleave(st, {{"amx", run(true)}, {"fma", run(false)}});
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
  RestoreDefaults restore;
  if (!dot_products_ready(st)) return;
  GemvInputs in(st.range(0), st.range(1), st.range(2), st.range(3));
  auto run = [&](bool dot) {
    return [&, dot] {
      kernels::set_bf16_dot_enabled(dot);
      in.product();
    };
  };
  interleave(st, {{"dot", run(true)}, {"fma", run(false)}});
}
BENCHMARK(BM_GemvDotVsFma)
    ->ArgsProduct({{4864}, {896}, {1, 8}, {0}})
    ->ArgsProduct({{896}, {4864}, {1, 8}, {0}})
    ->ArgsProduct({{151936}, {896}, {1, 8}, {0}})
    ->ArgNames({"m", "k", "n", "offset"})
    ->Iterations(30)
    ->UseRealTime();

// arg: batch. One decode step (DecodeSteps) of the model in SLOTLM_BENCH_MODEL: AMX on the weights
// laid out at load vs on the file's rows vs the FMA gemv.
void BM_DecodeStep(benchmark::State& st) {
  const char* dir = bench::amx_bench_model(st);
  if (!dir) return;
  RestoreDefaults restore;
  DecodeSteps d(dir, st.range(0));
  auto run = [&](bool amx, bool tiles) {
    return [&, amx, tiles] {
      kernels::set_amx_enabled(amx);
      kernels::set_amx_tiles_enabled(tiles);
      d.step();
    };
  };
  interleave(st, {{"amx_tiles", run(true, true)}, {"amx_plain", run(true, false)}, {"fma", run(false, false)}});
}
BENCHMARK(BM_DecodeStep)->Arg(1)->Arg(8)->ArgNames({"batch"})->Iterations(30)->UseRealTime();

// arg: batch. BM_DecodeStep at `fast` (1 bf16 term) without AMX: the AVX512-BF16 dot products vs
// the FMA gemv, on the model in SLOTLM_BENCH_MODEL.
void BM_DecodeStepDotVsFma(benchmark::State& st) {
  const char* dir = bench::bench_model(st);
  if (!dir) return;
  RestoreDefaults restore;
  if (!dot_products_ready(st)) return;
  DecodeSteps d(dir, st.range(0));
  auto run = [&](bool dot) {
    return [&, dot] {
      kernels::set_bf16_dot_enabled(dot);
      d.step();
    };
  };
  interleave(st, {{"dot", run(true)}, {"fma", run(false)}});
}
BENCHMARK(BM_DecodeStepDotVsFma)->Arg(1)->Arg(8)->ArgNames({"batch"})->Iterations(30)->UseRealTime();

// args: m, k, n, bf16 terms. y = x W^T on GemvInputs with W also in oneDNN's blocked layout
// (isa/blocked_gemv.h) vs its plain rows (the dot products at 1 term, the FMA gemv at 2).
void BM_GemvBlockedVsPlain(benchmark::State& st) {
  RestoreDefaults restore;
  if (!dot_products_ready(st)) return;
  kernels::set_bf16_gemm_terms(int(st.range(3)));
  GemvInputs in(st.range(0), st.range(1), st.range(2), 0);
  AlignedVector<uint16_t> blocked(size_t(st.range(0) * st.range(1)));
  kernels::pack_blocked(in.mv, blocked.data());
  auto run = [&](bool b) {
    return [&, b] {
      in.mv.blocked = b ? blocked.data() : nullptr;
      in.product();
    };
  };
  interleave(st, {{"blocked", run(true)}, {"plain", run(false)}});
}
BENCHMARK(BM_GemvBlockedVsPlain)
    ->ArgsProduct({{4864}, {896}, {1, 8}, {1, 2}})
    ->ArgsProduct({{896}, {4864}, {1, 8}, {1, 2}})
    ->ArgsProduct({{151936}, {896}, {1, 8}, {1, 2}})
    ->ArgNames({"m", "k", "n", "terms"})
    ->Iterations(30)
    ->UseRealTime();

// args: batch, bf16 terms. One decode step (DecodeSteps) of the model in SLOTLM_BENCH_MODEL with
// the weights in oneDNN's blocked layout (isa/blocked_gemv.h, the dot products at any precision)
// vs the same model loaded without it (the plain rows in huge pages: the dot products at 1 term,
// the FMA gemv at 2).
void BM_DecodeStepBlockedVsPlain(benchmark::State& st) {
  const char* dir = bench::blocked_bench_model(st);
  if (!dir) return;
  RestoreDefaults restore;
  kernels::set_bf16_gemm_terms(int(st.range(1)));
  DecodeSteps blocked(dir, st.range(0), true), plain(dir, st.range(0), false);
  interleave(st, {{"blocked", [&] { blocked.step(); }}, {"plain", [&] { plain.step(); }}});
}
BENCHMARK(BM_DecodeStepBlockedVsPlain)
    ->ArgsProduct({{1, 8}, {1, 2}})
    ->ArgNames({"batch", "terms"})
    ->Iterations(30)
    ->UseRealTime();

// args: batch, bf16 terms. One decode step (DecodeSteps) of the model in SLOTLM_BENCH_MODEL with a
// kernel setting on (counter `on`) vs off (`off`), alternating: the A/B of the decode products'
// switches below.
void decode_step_on_vs_off(benchmark::State& st, void (*set)(bool), const char* on, const char* off) {
  const char* dir = bench::bench_model(st);
  if (!dir) return;
  RestoreDefaults restore;
  kernels::set_bf16_gemm_terms(int(st.range(1)));
  DecodeSteps d(dir, st.range(0));
  auto run = [&](bool value) {
    return [&, value] {
      set(value);
      d.step();
    };
  };
  interleave(st, {{on, run(true)}, {off, run(false)}});
}

// Each thread streaming its own contiguous share of each product's weights vs the chunks handed
// out in turn (kernels::set_gemv_shares_enabled).
void BM_DecodeStepSharesVsTurns(benchmark::State& st) {
  decode_step_on_vs_off(st, kernels::set_gemv_shares_enabled, "shares", "turns");
}
BENCHMARK(BM_DecodeStepSharesVsTurns)
    ->ArgsProduct({{1, 8}, {1, 2}})
    ->ArgNames({"batch", "terms"})
    ->Iterations(40)
    ->UseRealTime();

// The batched products on the blocked layout with the later walks over a block prefetching the next
// one vs without (kernels::set_gemv_lookahead_enabled).
void BM_DecodeStepLookahead(benchmark::State& st) {
  decode_step_on_vs_off(st, kernels::set_gemv_lookahead_enabled, "ahead", "plain");
}
BENCHMARK(BM_DecodeStepLookahead)
    ->ArgsProduct({{6, 8, 16}, {1, 2}})
    ->ArgNames({"batch", "terms"})
    ->Iterations(40)
    ->UseRealTime();

// The batched products on the blocked layout walking each block once per 8 rows of x vs once per 4
// (kernels::set_gemv_wide_walks_enabled).
void BM_DecodeStepWideWalks(benchmark::State& st) {
  decode_step_on_vs_off(st, kernels::set_gemv_wide_walks_enabled, "wide", "four");
}
BENCHMARK(BM_DecodeStepWideWalks)
    ->ArgsProduct({{5, 6, 8, 12, 16}, {1, 2}})
    ->ArgNames({"batch", "terms"})
    ->Iterations(40)
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
