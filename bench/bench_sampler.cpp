// SPDX-License-Identifier: MIT
// The sampler on a Qwen2.5-sized vocabulary (151936), per token, its modes side by side in one
// process (bench::interleave): greedy, temperature alone, top-p, top-k + top-p, min-p. Logits are
// Gaussian with standard deviation `spread`: 6 is peaked like a trained model (entropy ~1 nat, the
// 0.9 nucleus ~7 tokens), 3 broader (~6700 tokens), 1 nearly flat (~92000; a random checkpoint).
// Run: ./build/bench/bench_sampler
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "generate/sampler.h"
#include "interleave.h"

namespace {

using namespace slotlm;

constexpr int64_t kVocab = 151936;

// arg: spread x 10.
void BM_SamplerModes(benchmark::State& st) {
  std::mt19937_64 g(1);
  std::normal_distribution<double> nd(0.0, double(st.range(0)) / 10);
  std::vector<float> base(static_cast<size_t>(kVocab)), z(static_cast<size_t>(kVocab));
  for (float& v : base) v = float(nd(g));
  auto params = [](double temp, int64_t top_k, double top_p, double min_p) {
    gen::SamplerParams p;
    p.temperature = temp;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.seed = 3;
    return p;
  };
  gen::Sampler greedy(params(0, 0, 1, 0)), temp(params(0.7, 0, 1, 0)), top_p(params(0.7, 0, 0.9, 0)),
      top_kp(params(0.7, 20, 0.8, 0)), min_p(params(0.7, 0, 1, 0.05));
  auto run = [&](gen::Sampler& s) {
    return [&] {
      z = base;  // the sampler scales the logits in place
      benchmark::DoNotOptimize(s.sample(z.data(), kVocab, {}));
    };
  };
  bench::interleave(st, {{"greedy", run(greedy)},
                         {"temp", run(temp)},
                         {"top_p", run(top_p)},
                         {"top_k_p", run(top_kp)},
                         {"min_p", run(min_p)}});
}
BENCHMARK(BM_SamplerModes)->ArgName("spread_x10")->Arg(60)->Arg(30)->Arg(10)->Iterations(40)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
