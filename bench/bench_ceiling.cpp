// SPDX-License-Identifier: MIT
// Compute ceilings of this machine, to run beside the model benchmarks: the shared VM's throughput
// swings by up to 2x between minutes, so a matmul number means little without the peak measured
// in the same run. AVX-512 FMA (zmm FMAs/s, register only), AVX512-BF16 VDPBF16PS (FLOP/s, register
// only) and AMX-BF16 TDPBF16PS (FLOP/s of 16x16x32 tile products, register only and with a GEMM's
// tile loads), on 1 and 2 threads; and
// the DRAM read bandwidth a decode step (which streams every weight once) can reach at most.
// Run: ./build/bench/bench_ceiling
#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <omp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

// 12 independent FMA chains (more than latency x ports), `iters` rounds; returns a value so the
// loop is kept.
__attribute__((target("avx512f,fma"))) float fma_loop(int64_t iters) {
  __m512 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(1.f + float(i) * 1e-7f);
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (int64_t it = 0; it < iters; ++it)
    for (int j = 0; j < 12; ++j) a[j] = _mm512_fmadd_ps(a[j], m, c);
  float s = 0;
  for (int j = 0; j < 12; ++j) s += _mm512_cvtss_f32(a[j]);
  return s;
}

// Runs `loop(kIters)` on st.range(0) threads per iteration; each round of a thread's loop counts
// `per_round` units of `counter` per second.
template <class Loop>
void run_register_loop(benchmark::State& st, Loop loop, const char* counter, double per_round) {
  const int threads = int(st.range(0));
  constexpr int64_t kIters = 1 << 20;
  for (auto _ : st) {
#pragma omp parallel num_threads(threads)
    benchmark::DoNotOptimize(loop(kIters));
  }
  st.counters[counter] = benchmark::Counter(double(threads) * per_round * double(kIters),
                                            benchmark::Counter::kIsIterationInvariantRate);
}

// arg: threads.
void BM_Avx512FmaPeak(benchmark::State& st) {
  if (!__builtin_cpu_supports("avx512f")) {
    st.SkipWithError("no AVX-512 on this CPU");
    return;
  }
  run_register_loop(st, fma_loop, "zmm_FMA/s", 12.0);
}
BENCHMARK(BM_Avx512FmaPeak)->Arg(1)->Arg(2)->UseRealTime()->ArgNames({"threads"});

// AVX512-BF16 VDPBF16PS (32 bf16 products summed pairwise into 16 f32 lanes, 64 FLOP), 12
// independent chains, register only: the compute ceiling of oneDNN's bf16 products on a CPU without
// AMX (the one the `fast` precision's prefill approaches).
__attribute__((target("avx512f,avx512bf16"))) float dpbf16_loop(int64_t iters) {
  __m512 a[12];
  // Distinct starting sums, as in fma_loop: with equal ones GCC merged the 12 chains into one.
  for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(float(i) * 1e-7f);
  const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = (__m512bh)_mm512_set1_epi16(0x3a80);
  for (int64_t it = 0; it < iters; ++it)
    for (int j = 0; j < 12; ++j) a[j] = _mm512_dpbf16_ps(a[j], x, y);
  float s = 0;
  for (int j = 0; j < 12; ++j) s += _mm512_cvtss_f32(a[j]);
  return s;
}

// arg: threads.
void BM_Avx512Bf16DotPeak(benchmark::State& st) {
  if (!__builtin_cpu_supports("avx512bf16")) {
    st.SkipWithError("no AVX512-BF16 on this CPU");
    return;
  }
  run_register_loop(st, dpbf16_loop, "FLOP/s", 12.0 * 64.0);
}
BENCHMARK(BM_Avx512Bf16DotPeak)->Arg(1)->Arg(2)->UseRealTime()->ArgNames({"threads"});

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

bool amx_ready() {
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  static const bool ok = __builtin_cpu_supports("amx-tile") && __builtin_cpu_supports("amx-bf16") &&
                         syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  return ok;
}

// 4 independent accumulators (tiles 0-3) from tiles 4-7: the 2x2 blocking of a tiled GEMM. With
// `loads` > 0 every round first loads tiles 4-7 from L1-resident data, cycling through 8 k chunks
// as a GEMM micro-kernel does: B tiles 1 KB contiguous, A tiles 16 rows with a 512-byte stride,
// 64-byte aligned (loads = 1) or 32 bytes off (loads = 2: every A row straddles two cache lines).
__attribute__((target("amx-tile,amx-bf16"))) void tdp_loop(int64_t iters, int loads) {
  TileConfig cfg;
  for (int i = 0; i < 8; ++i) {
    cfg.colsb[i] = 64;
    cfg.rows[i] = 16;
  }
  _tile_loadconfig(&cfg);
  // B: 8 chunks x 2 tiles x 512 bf16; A: 32 rows x 256 bf16 (+ slack for the offset variant). Nonzero
  // values: products of zero tiles can run faster than real ones.
  alignas(64) static uint16_t tiles[16 * 1024 + 64];
  for (int i = 0; i < 16 * 1024 + 64; ++i) tiles[i] = uint16_t(0x3a80 + (i % 61));  // ~2^-10, varied
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, tiles, 64);
  _tile_loadd(5, tiles + 512, 64);
  _tile_loadd(6, tiles + 1024, 64);
  _tile_loadd(7, tiles + 1536, 64);
  for (int64_t it = 0; it < iters; ++it) {
    if (loads > 0) {
      const uint16_t* b = tiles + (it % 8) * 1024;
      const uint16_t* a = tiles + 8192 + (it % 8) * 32 + (loads == 2 ? 16 : 0);
      _tile_loadd(6, b, 64);
      _tile_loadd(7, b + 512, 64);
      _tile_loadd(4, a, 512);
      _tile_loadd(5, a + 16 * 256, 512);
    }
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  alignas(64) float out[256];
  _tile_stored(0, out, 64);
  benchmark::DoNotOptimize(out);
  _tile_release();
}

// args: threads, loads (0: register only; 1: 4 aligned tile loads per 4 products; 2: the A loads
// 32 bytes off alignment). FLOP/s counts 2 * 16 * 16 * 32 per TDPBF16PS.
void BM_AmxTdpPeak(benchmark::State& st) {
  if (!amx_ready()) {
    st.SkipWithError("no AMX-BF16 on this CPU, or the OS did not grant the tile state");
    return;
  }
  const int threads = int(st.range(0));
  const int loads = int(st.range(1));
  constexpr int64_t kIters = 1 << 18;
  for (auto _ : st) {
#pragma omp parallel num_threads(threads)
    tdp_loop(kIters, loads);
  }
  st.counters["FLOP/s"] = benchmark::Counter(double(threads) * 4.0 * double(kIters) * 2.0 * 16 * 16 * 32,
                                             benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_AmxTdpPeak)
    ->Args({1, 0})
    ->Args({2, 0})
    ->Args({1, 1})
    ->Args({2, 1})
    ->Args({1, 2})
    ->Args({2, 2})
    ->UseRealTime()
    ->ArgNames({"threads", "loads"});

// Sum of 32-bit lanes over [p, p + n) with 64-byte loads: a read stream with no other work.
__attribute__((target("avx512f"))) int64_t read_stream(const char* p, size_t n) {
  __m512i a = _mm512_setzero_si512();
  for (size_t i = 0; i < n; i += 64) a = _mm512_add_epi32(a, _mm512_load_si512(p + i));
  alignas(64) int32_t lanes[16];
  _mm512_store_si512(lanes, a);
  int64_t sum = 0;
  for (int32_t v : lanes) sum += v;
  return sum;
}

// arg: threads. Reads 1 GiB (far beyond the L3, like a model's weights) split evenly between the
// threads; bytes/s is the ceiling for decode, which reads each weight once per token.
void BM_ReadBandwidth(benchmark::State& st) {
  if (!__builtin_cpu_supports("avx512f")) {
    st.SkipWithError("no AVX-512 on this CPU");
    return;
  }
  constexpr size_t kBytes = size_t(1) << 30;
  char* buf = static_cast<char*>(std::aligned_alloc(size_t(2) << 20, kBytes));
  std::memset(buf, 1, kBytes);
  const int threads = int(st.range(0));
  for (auto _ : st) {
#pragma omp parallel num_threads(threads)
    {
      const size_t part = kBytes / size_t(omp_get_num_threads());
      benchmark::DoNotOptimize(read_stream(buf + part * size_t(omp_get_thread_num()), part));
    }
  }
  st.counters["bytes/s"] = benchmark::Counter(double(kBytes), benchmark::Counter::kIsIterationInvariantRate);
  std::free(buf);
}
BENCHMARK(BM_ReadBandwidth)->Arg(1)->Arg(2)->UseRealTime()->ArgNames({"threads"});

}  // namespace

BENCHMARK_MAIN();
