// SPDX-License-Identifier: MIT
// Prefill matrix-product paths side by side IN ONE PROCESS, alternating every iteration: slotlm's
// AMX tile GEMM vs oneDNN (kernels::set_amx_enabled), for whole prefills also on the weights laid
// out at load vs re-laid out per call (kernels::set_amx_tiles_enabled), and oneDNN on aligned vs
// misaligned sources; without AMX, the weights in oneDNN's blocked layout vs the plain rows.
// This host's throughput drifts by up to 2x within a minute, so only interleaved timings compare
// paths; each benchmark reports the median milliseconds of every variant as counters.
// Run: ./build/bench/bench_prefill_paths
//      SLOTLM_BENCH_MODEL=models/qwen2.5-0.5b ./build/bench/bench_prefill_paths  (adds BM_Forward512)
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

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

// args: n, k, m, bf16 terms. y = x W^T with bf16 W: AMX vs oneDNN, both with aligned buffers.
void BM_MatmulAmxVsOneDnn(benchmark::State& st) {
  const int64_t n = st.range(0), k = st.range(1), m = st.range(2);
  kernels::set_bf16_gemm_terms(int(st.range(3)));
  if (!kernels::amx_enabled()) {
    st.SkipWithError("no AMX-BF16 here");
    return;
  }
  std::mt19937 rng(1);
  std::normal_distribution<float> d(0.f, 1.f);
  AlignedVector<uint16_t> w(size_t(m * k));
  for (auto& v : w) v = f32_to_bf16(0.05f * d(rng));
  AlignedVector<float> x(size_t(n * k)), y(size_t(n * m));
  for (auto& v : x) v = d(rng);
  const MatView mv{w.data(), DType::kBF16, m, k};
  auto run = [&](bool amx) {
    return [&, amx] {
      kernels::set_amx_enabled(amx);
      kernels::matmul(x.data(), n, mv, nullptr, y.data());
    };
  };
  interleave(st, {{"amx", run(true)}, {"onednn", run(false)}});
  kernels::set_amx_enabled(true);
  kernels::set_bf16_gemm_terms(2);
}
BENCHMARK(BM_MatmulAmxVsOneDnn)
    ->Args({512, 896, 4864, 2})
    ->Args({512, 4864, 896, 2})
    ->Args({512, 896, 896, 2})
    ->Args({512, 896, 128, 2})
    ->Args({512, 896, 4864, 1})
    ->Args({512, 4864, 896, 1})
    ->ArgNames({"n", "k", "m", "terms"})
    ->Iterations(20)
    ->UseRealTime();

// oneDNN's bf16 matmul 512 x 896 -> 4864 (AMX brgemm here) with its source 64-byte aligned vs 16
// and 32 bytes off: tile rows that straddle cache lines (what slotlm's buffers did before they
// became AlignedVector).
void BM_OneDnnSourceAlignment(benchmark::State& st) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  const int64_t n = 512, k = 896, m = 4864;
  dnnl::engine e(dnnl::engine::kind::cpu, 0);
  dnnl::stream s(e);
  const dnnl::memory::desc src({n, k}, dt::bf16, tag::ab), wei({k, m}, dt::bf16, tag::ba), dst({n, m}, dt::f32, tag::ab);
  dnnl::matmul prim(dnnl::matmul::primitive_desc(dnnl::matmul::desc(src, wei, dst), e));
  AlignedVector<uint16_t> x(size_t(n * k) + 64, f32_to_bf16(0.5f)), w(size_t(m * k), f32_to_bf16(0.01f));
  AlignedVector<float> y(size_t(n * m));
  auto run = [&](int offset_bytes) {
    return [&, offset_bytes] {
      void* xs = reinterpret_cast<char*>(x.data()) + offset_bytes;
      prim.execute(s, {{DNNL_ARG_SRC, dnnl::memory(src, e, xs)},
                       {DNNL_ARG_WEIGHTS, dnnl::memory(wei, e, w.data())},
                       {DNNL_ARG_DST, dnnl::memory(dst, e, y.data())}});
      s.wait();
    };
  };
  interleave(st, {{"aligned", run(0)}, {"off16", run(16)}, {"off32", run(32)}});
}
BENCHMARK(BM_OneDnnSourceAlignment)->Iterations(20)->UseRealTime();

// A 512-token prefill of the model in SLOTLM_BENCH_MODEL on AMX with the weights laid out for the
// tiles at load (MatView::tiles), on AMX re-laying them out per call, and on oneDNN.
void BM_Forward512(benchmark::State& st) {
  const char* dir = bench::amx_bench_model(st);
  if (!dir) return;
  kernels::set_bf16_gemm_terms(int(st.range(0)));
  auto model = model::Model::load(dir);
  const int64_t n = 512;
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = int32_t((i * 7919) % model->n_vocab());
  model::Workspace ws;
  std::vector<float> hidden(size_t(n * model->d_model()));
  auto run = [&](bool amx, bool tiles) {
    return [&, amx, tiles] {
      kernels::set_amx_enabled(amx);
      kernels::set_amx_tiles_enabled(tiles);
      auto cache = model->new_cache(n);
      model->forward(ids, cache, ws, hidden.data());
    };
  };
  interleave(st, {{"amx_tiles", run(true, true)}, {"amx_plain", run(true, false)}, {"onednn", run(false, false)}});
  kernels::set_amx_enabled(true);
  kernels::set_amx_tiles_enabled(true);
  kernels::set_bf16_gemm_terms(2);
}
BENCHMARK(BM_Forward512)->Arg(2)->Arg(1)->ArgNames({"terms"})->Iterations(16)->UseRealTime();

// arg: bf16 terms. A 512-token prefill of the model in SLOTLM_BENCH_MODEL on oneDNN with the
// weights in its blocked layout (laid out at load) vs the same model loaded without it (oneDNN
// copies the plain weights into its layout on every call; the MLP runs transposed).
void BM_Forward512BlockedVsPlain(benchmark::State& st) {
  const char* dir = bench::blocked_bench_model(st);
  if (!dir) return;
  kernels::set_bf16_gemm_terms(int(st.range(0)));
  auto blocked = bench::load_model(dir, true), plain = bench::load_model(dir, false);
  const int64_t n = 512;
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = int32_t((i * 7919) % blocked->n_vocab());
  model::Workspace ws;
  std::vector<float> hidden(size_t(n * blocked->d_model()));
  auto run = [&](const model::Model& m) {
    return [&] {
      auto cache = m.new_cache(n);
      m.forward(ids, cache, ws, hidden.data());
    };
  };
  interleave(st, {{"blocked", run(*blocked)}, {"plain", run(*plain)}});
  kernels::set_bf16_gemm_terms(2);
}
BENCHMARK(BM_Forward512BlockedVsPlain)->Arg(1)->Arg(2)->ArgNames({"terms"})->Iterations(16)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
