// SPDX-License-Identifier: MIT
// Static vs continuous batching IN ONE PROCESS, alternating every iteration: 16 sequences whose
// answers differ in length (8 to 128 tokens, fixed by a seed, no stop id) decode at most 8 at a
// time, either in two fixed batches of 8 (each batch runs until its longest sequence ends, as eval
// and the server did before the Decoder took joins) or on one gen::Decoder where the next sequence
// joins as soon as one finishes. Counters: median milliseconds of each, and tokens per second.
// BM_JoinWhileDecoding: a long prompt prefilled in chunks while other sequences decode, its chunks
// in the same forward as their tokens or in forwards of their own (gen::Decoder::set_mixed_steps);
// BM_ShortPromptBehindLong: a short prompt queued right after a long one, served first or after it.
// Run: SLOTLM_BENCH_MODEL=models/qwen2.5-0.5b ./build-perf/bench/bench_batching
#include <benchmark/benchmark.h>

#include <chrono>
#include <random>
#include <string>
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

// A 512-token prompt (with `slot` SLOT steps) joins `streams` sequences that are decoding,
// prefilled in chunks of `chunk` tokens (the server's Decoder), with each chunk in the same forward
// as the streams' tokens (mixed; its SLOT's rows computed with its chunks) or in a forward of its
// own before them (separate; its SLOT after its last chunk). Per variant, medians over the
// iterations: the joiner's time to its first token, the streams' tokens/s meanwhile and the first
// stream's longest gap between two tokens.
constexpr int64_t kJoinPrompt = 512;

struct JoinRun {
  double ttft_ms = 0, stream_tok_s = 0, max_gap_ms = 0;
};

JoinRun run_join(const model::Model& m, int64_t streams, int64_t chunk, bool mixed, int slot_steps = 0) {
  gen::Decoder dec(m);
  dec.set_prefill_chunk(chunk);
  dec.set_mixed_steps(mixed);
  std::mt19937 rng(5);
  std::uniform_int_distribution<int32_t> id(0, int32_t(m.n_vocab() - 1));
  std::vector<std::vector<int32_t>> prompts(size_t(streams + 1));
  for (size_t i = 0; i < prompts.size(); ++i) {
    prompts[i].resize(size_t(i == 0 ? kJoinPrompt : kPromptTokens));
    for (auto& t : prompts[i]) t = id(rng);
  }
  gen::GenerateOptions o;
  o.stop_ids = {-1};
  o.n_predict = 100000;  // the streams outlive the measurement
  int64_t stream_tokens = 0;
  // The first stream's longest gap between two tokens while the prompt joins.
  std::chrono::steady_clock::time_point last;
  double max_gap = 0;
  bool joining = false;
  std::vector<gen::BatchItem> items;
  for (int64_t i = 1; i <= streams; ++i)
    items.push_back({prompts[size_t(i)], o, [&, i](int32_t) {
                       if (i == 1) {
                         const auto now = std::chrono::steady_clock::now();
                         if (joining) max_gap = std::max(max_gap, std::chrono::duration<double, std::milli>(now - last).count());
                         last = now;
                       }
                       return ++stream_tokens > 0;
                     }});
  dec.add(items);
  while (stream_tokens < 2 * streams) dec.step();  // every stream prefilled (one per step) and decoding
  gen::GenerateOptions j = o;
  j.n_predict = 1;
  j.slot.steps = slot_steps;
  joining = true;
  bool first = false;
  int64_t tokens_then = 0;  // the streams' tokens when the joiner's first one comes
  std::chrono::steady_clock::time_point t1;
  dec.add(std::vector<gen::BatchItem>{{prompts[0], j, [&](int32_t) {
                                         t1 = std::chrono::steady_clock::now();
                                         tokens_then = stream_tokens;
                                         return first = true;
                                       }}});
  stream_tokens = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (!first) dec.step();
  const double ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  return {ms, 1000.0 * double(tokens_then) / ms, max_gap};
}

void BM_JoinWhileDecoding(benchmark::State& st) {
  const char* dir = bench::bench_model(st);
  if (!dir) return;
  const auto m = model::Model::load(dir);
  const int64_t streams = st.range(0), chunk = st.range(1);
  const int slot_steps = int(st.range(2));
  std::vector<double> ttft[2], tok_s[2], gap[2];
  for (auto _ : st) {
    for (int v = 0; v < 2; ++v) {
      const JoinRun r = run_join(*m, streams, chunk, v == 0, slot_steps);
      ttft[v].push_back(r.ttft_ms);
      tok_s[v].push_back(r.stream_tok_s);
      gap[v].push_back(r.max_gap_ms);
    }
  }
  const char* names[2] = {"mixed", "separate"};
  for (int v = 0; v < 2; ++v) {
    st.counters[std::string(names[v]) + "_ttft_ms"] = bench::median(ttft[v]);
    st.counters[std::string(names[v]) + "_streams_tok_s"] = bench::median(tok_s[v]);
    st.counters[std::string(names[v]) + "_max_gap_ms"] = bench::median(gap[v]);
  }
}
BENCHMARK(BM_JoinWhileDecoding)
    ->ArgsProduct({{1, 4}, {64, 256}, {0}})
    ->Args({4, 256, 5})
    ->ArgNames({"streams", "chunk", "slot"})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(7);

// A 2048-token prompt and then a 32-token one join 4 decoding streams at once (chunks of 256):
// with mixed steps the short one is served first (fewest tokens left), with separate steps it waits
// for the long one's whole prefill. Counters: medians of each prompt's time to its first token.
double ms_since(std::chrono::steady_clock::time_point t0, std::chrono::steady_clock::time_point t1) {
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

std::pair<double, double> run_short_behind_long(const model::Model& m, bool mixed) {
  gen::Decoder dec(m);
  dec.set_prefill_chunk(256);
  dec.set_mixed_steps(mixed);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> id(0, int32_t(m.n_vocab() - 1));
  auto prompt = [&](int64_t n) {
    std::vector<int32_t> p(static_cast<size_t>(n));
    for (auto& t : p) t = id(rng);
    return p;
  };
  const std::vector<int32_t> stream = prompt(kPromptTokens), long_p = prompt(2048), short_p = prompt(32);
  gen::GenerateOptions o;
  o.stop_ids = {-1};
  o.n_predict = 100000;
  int64_t stream_tokens = 0;
  std::vector<gen::BatchItem> items(4, gen::BatchItem{stream, o, [&](int32_t) { return ++stream_tokens > 0; }});
  dec.add(items);
  while (stream_tokens < 8) dec.step();
  o.n_predict = 1;
  std::chrono::steady_clock::time_point t_long, t_short;
  int firsts = 0;
  dec.add(std::vector<gen::BatchItem>{{long_p, o, [&](int32_t) { t_long = std::chrono::steady_clock::now(); ++firsts; return true; }},
                                      {short_p, o, [&](int32_t) { t_short = std::chrono::steady_clock::now(); ++firsts; return true; }}});
  const auto t0 = std::chrono::steady_clock::now();
  while (firsts < 2) dec.step();
  return {ms_since(t0, t_short), ms_since(t0, t_long)};
}

void BM_ShortPromptBehindLong(benchmark::State& st) {
  const char* dir = bench::bench_model(st);
  if (!dir) return;
  const auto m = model::Model::load(dir);
  std::vector<double> short_ms[2], long_ms[2];
  for (auto _ : st) {
    for (int v = 0; v < 2; ++v) {
      const auto [s, l] = run_short_behind_long(*m, v == 0);
      short_ms[v].push_back(s);
      long_ms[v].push_back(l);
    }
  }
  const char* names[2] = {"mixed", "separate"};
  for (int v = 0; v < 2; ++v) {
    st.counters[std::string(names[v]) + "_short_ttft_ms"] = bench::median(short_ms[v]);
    st.counters[std::string(names[v]) + "_long_ttft_ms"] = bench::median(long_ms[v]);
  }
}
BENCHMARK(BM_ShortPromptBehindLong)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
