// SPDX-License-Identifier: MIT
// Tokenizer micro-benchmarks: encode throughput (MB/s) on mixed English + code + CJK text with
// the Qwen2.5 and Llama-3 vocabularies, decode throughput, and vocabulary load time.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace {

namespace fs = std::filesystem;
using slotlm::tok::Tokenizer;

// Size of the benchmark text (the passage below repeated).
constexpr size_t kTextBytes = 1 << 20;

const std::string& shared_dir() {
  static const std::string d = SLOTLM_SHARED_DIR;
  return d;
}

// A slow-format Qwen2.5 folder (symlinks into ../shared; nothing copied), "" when absent.
const std::string& qwen_dir() {
  static const std::string dir = [] {
    const std::string src = shared_dir() + "/tokenizers/qwen2.5";
    if (!fs::exists(src + "/vocab.json")) return std::string();
    std::string tmpl = (fs::temp_directory_path() / "slotlm_bench_tok_XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) return std::string();
    fs::create_symlink(src + "/vocab.json", tmpl + "/vocab.json");
    fs::create_symlink(src + "/merges.txt", tmpl + "/merges.txt");
    return tmpl;
  }();
  return dir;
}

const std::string& mixed_text() {
  static const std::string text = [] {
    const std::string passage =
        "The quick brown fox jumps over the lazy dog. In 2024, researchers reported that "
        "test-time adaptation (SLOT) improves GSM8K accuracy by 8.27% on Qwen2.5-7B.\n"
        "    def encode(self, text: str) -> list[int]:\n"
        "        return [self.vocab[t] for t in self.split(text) if t]  # O(n) lookup\n"
        "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }\n"
        "人工智能正在改变世界。我们在测试分词器的速度，包括中文、日本語のテキスト、한국어 문장。\n"
        "Don't stop believing!!! It's 3:45pm -- they're here, we've won, I'm sure, you'll see.\n\n";
    std::string t;
    while (t.size() < kTextBytes) t += passage;
    return t;
  }();
  return text;
}

void encode_bench(benchmark::State& state, const std::string& dir) {
  if (dir.empty()) {
    state.SkipWithError("../shared tokenizer files are absent");
    return;
  }
  static std::unique_ptr<Tokenizer> cache[2];
  auto& tok = cache[dir == qwen_dir() ? 0 : 1];
  if (!tok) tok = Tokenizer::load(dir);
  const std::string& text = mixed_text();
  size_t n_tok = 0;
  for (auto _ : state) {
    auto ids = tok->encode(text);
    n_tok = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(n_tok);
  state.counters["bytes/token"] = static_cast<double>(text.size()) / n_tok;
}

void BM_EncodeQwen25(benchmark::State& state) { encode_bench(state, qwen_dir()); }
BENCHMARK(BM_EncodeQwen25)->Unit(benchmark::kMillisecond);

void BM_EncodeLlama3(benchmark::State& state) {
  const std::string d = shared_dir() + "/tokenizers/llama3";
  encode_bench(state, fs::exists(d + "/tokenizer.model") ? d : std::string());
}
BENCHMARK(BM_EncodeLlama3)->Unit(benchmark::kMillisecond);

void BM_DecodeQwen25(benchmark::State& state) {
  if (qwen_dir().empty()) {
    state.SkipWithError("../shared tokenizer files are absent");
    return;
  }
  auto tok = Tokenizer::load(qwen_dir());
  const auto ids = tok->encode(mixed_text());
  for (auto _ : state) benchmark::DoNotOptimize(tok->decode(ids));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * mixed_text().size()));
}
BENCHMARK(BM_DecodeQwen25)->Unit(benchmark::kMillisecond);

// Loading vocab.json (151,643 tokens) + merges.txt (151,387 merges).
void BM_LoadQwen25(benchmark::State& state) {
  if (qwen_dir().empty()) {
    state.SkipWithError("../shared tokenizer files are absent");
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(Tokenizer::load(qwen_dir()));
}
BENCHMARK(BM_LoadQwen25)->Unit(benchmark::kMillisecond)->Iterations(5);

void BM_LoadLlama3(benchmark::State& state) {
  const std::string d = shared_dir() + "/tokenizers/llama3";
  if (!fs::exists(d + "/tokenizer.model")) {
    state.SkipWithError("../shared tokenizer files are absent");
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(Tokenizer::load(d));
}
BENCHMARK(BM_LoadLlama3)->Unit(benchmark::kMillisecond)->Iterations(5);

}  // namespace

BENCHMARK_MAIN();
