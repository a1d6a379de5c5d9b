// SPDX-License-Identifier: MIT
// Static vs continuous batching IN ONE PROCESS, alternating every iteration: 16 sequences whose
// answers differ in length (8 to 128 tokens, fixed by a seed, no stop id) decode at most 8 at a
// time, either in two fixed batches of 8 (each batch runs until its longest sequence ends, as eval
// and the server did before the Decoder took joins) or on one gen::Decoder where the next sequence
// joins as soon as one finishes. Counters: median milliseconds of each, and tokens per second.
// Run: SLOTLM_BENCH_MODEL=models/qwen2.5-0.5b ./build-perf/bench/bench_batching
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "bench_model.h"
#include "generate/decoder.h"
#include "interleave.h"

namespace {

using namespace slotlm;

constexpr int kSequences = 16;
constexpr size_t kBatch = 8;
constexpr int64_t kPromptTokens = 32;

struct Workload {
  std::vector<std::vector<int32_t>> prompts;
  std::vector<gen::GenerateOptions> opts;
  int64_t tokens = 0;
  explicit Workload(int64_t n_vocab) {
    std::mt19937 rng(3);
    std::uniform_int_distribution<int32_t> id(0, int32_t(n_vocab - 1));
    std::uniform_int_distribution<int64_t> len(8, 128);
    for (int i = 0; i < kSequences; ++i) {
      std::vector<int32_t> p(static_cast<size_t>(kPromptTokens));
      for (auto& t : p) t = id(rng);
      prompts.push_back(std::move(p));
      gen::GenerateOptions o;
      o.n_predict = len(rng);
      o.stop_ids = {-1};  // every sequence runs to its length
      tokens += o.n_predict;
      opts.push_back(std::move(o));
    }
  }
  gen::BatchItem item(size_t i) const { return {prompts[i], opts[i], {}}; }
};

void run_static(const model::Model& m, const Workload& w) {
  for (size_t start = 0; start < w.prompts.size(); start += kBatch) {
    std::vector<gen::BatchItem> items;
    for (size_t i = start; i < std::min(w.prompts.size(), start + kBatch); ++i) items.push_back(w.item(i));
    gen::generate_batch(m, items);
  }
}

void run_continuous(const model::Model& m, const Workload& w) {
  gen::Decoder dec(m);
  size_t next = 0;
  while (next < w.prompts.size() || dec.n_active() > 0) {
    std::vector<gen::BatchItem> items;
    while (next < w.prompts.size() && dec.n_active() + items.size() < kBatch) items.push_back(w.item(next++));
    if (!items.empty()) dec.add(items);
    dec.step();
    dec.take_finished();
  }
}

void BM_StaticVsContinuousBatching(benchmark::State& st) {
  const char* dir = bench::bench_model(st);
  if (!dir) return;
  const auto m = model::Model::load(dir);
  const Workload w(m->n_vocab());
  bench::interleave(st, {{"static", [&] { run_static(*m, w); }}, {"continuous", [&] { run_continuous(*m, w); }}});
  st.counters["tokens"] = double(w.tokens);
  st.counters["static_tok_s"] = 1000.0 * double(w.tokens) / st.counters["static_ms"];
  st.counters["continuous_tok_s"] = 1000.0 * double(w.tokens) / st.counters["continuous_ms"];
}
BENCHMARK(BM_StaticVsContinuousBatching)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
