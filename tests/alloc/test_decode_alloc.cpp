// SPDX-License-Identifier: MIT
// "No allocation in the per-token loop" (issue #5): this executable replaces the global operator
// new (every heap allocation of the engine goes through it: containers, AlignedVector) with one
// that counts while a test asks it to, and runs decode steps after a warm-up: single and batched
// forward + LM head + sampling, and the generate loop itself between two of its token callbacks,
// with SLOT's delta and with a truncating sampler, and the Decoder loop of the server and eval
// (step, then take_finished). Each must allocate nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include "generate/decoder.h"
#include "generate/generate.h"
#include "generate/sampler.h"
#include "model/model.h"
#include "test_util.h"

namespace {

std::atomic<bool> g_counting{false};
std::atomic<int64_t> g_allocations{0};
std::atomic<size_t> g_first_bytes{0};  // size of the first counted allocation, for the message

void* counted(std::size_t n, std::size_t align) {
  if (g_counting.load(std::memory_order_relaxed)) {
    if (g_allocations.fetch_add(1, std::memory_order_relaxed) == 0) g_first_bytes = n;
  }
  void* p = nullptr;
  if (align <= alignof(std::max_align_t)) {
    p = std::malloc(n ? n : 1);
  } else if (posix_memalign(&p, align, n ? n : 1) != 0) {
    p = nullptr;
  }
  return p;
}

void start_counting() {
  g_allocations = 0;
  g_counting = true;
}
// Stops counting (before any assertion, whose message allocates) and returns the count.
int64_t stop_counting() {
  g_counting = false;
  return g_allocations.load();
}

}  // namespace

// The replaced deletes free through this (GCC would otherwise see free() of an operator new
// pointer and warn, though this operator new is malloc).
[[gnu::noinline]] void release(void* p) noexcept { std::free(p); }

void* operator new(std::size_t n) {
  if (void* p = counted(n, 0)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = counted(n, std::size_t(a))) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return ::operator new(n, a); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted(n, 0); }
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }

namespace slotlm {
namespace {

constexpr int64_t kWarmup = 4;   // steps that may size the buffers (first use of each path)
constexpr int64_t kCounted = 40;  // steps that must not allocate
// Prompts this long make the counted steps cross decode attention's key blocks (128 keys), whose
// per-block buffers must not grow with the context.
constexpr int32_t kLongPrompt = 110;

std::vector<int32_t> long_prompt(int32_t first) {
  std::vector<int32_t> p;
  for (int32_t i = 0; i < kLongPrompt; ++i) p.push_back((first + 7 * i) % 200 + 3);
  return p;
}

gen::SamplerParams truncating_sampler() {
  gen::SamplerParams p;
  p.temperature = 0.8;
  p.top_k = 40;
  p.top_p = 0.9;
  p.min_p = 0.02;
  p.repeat_penalty = 1.1;
  p.seed = 17;
  return p;
}

class DecodeAlloc : public ::testing::TestWithParam<const char*> {};

TEST_P(DecodeAlloc, SingleSequenceStepsAllocateNothing) {
  auto m = model::Model::load(test::data_path(GetParam()));
  const int64_t d = m->d_model(), V = m->n_vocab();
  const std::vector<int32_t> prompt = long_prompt(5);
  auto cache = m->new_cache(int64_t(prompt.size()) + kWarmup + kCounted + 1);
  model::Workspace ws;
  std::vector<float> hidden(prompt.size() * size_t(d)), logits(static_cast<size_t>(V));
  m->forward(prompt, cache, ws, hidden.data());
  std::vector<float> h(hidden.end() - d, hidden.end());
  std::vector<int32_t> history(prompt);
  history.reserve(history.size() + kWarmup + kCounted);
  gen::Sampler sampler(truncating_sampler());
  auto step = [&] {
    m->lm_head(h.data(), 1, logits.data());
    const int32_t id = sampler.sample(logits.data(), V, history);
    history.push_back(id);
    m->forward(std::span<const int32_t>(&history.back(), 1), cache, ws, h.data());
  };
  for (int64_t i = 0; i < kWarmup; ++i) step();
  start_counting();
  for (int64_t i = 0; i < kCounted; ++i) step();
  EXPECT_EQ(stop_counting(), 0) << "heap allocations in " << kCounted << " decode steps (the first of " << g_first_bytes
                                << " bytes)";
}

TEST_P(DecodeAlloc, BatchedStepsAllocateNothing) {
  auto m = model::Model::load(test::data_path(GetParam()));
  const int64_t d = m->d_model(), V = m->n_vocab();
  const std::vector<std::vector<int32_t>> prompts = {long_prompt(5), {9, 10, 11, 12, 13}, long_prompt(20)};
  const size_t B = prompts.size();
  model::Workspace ws;
  std::vector<model::KvCache> caches;
  caches.reserve(B);  // ptrs point into it
  std::vector<model::KvCache*> ptrs;
  std::vector<float> h(B * size_t(d)), logits(B * size_t(V));
  for (const auto& p : prompts) {
    caches.push_back(m->new_cache(int64_t(p.size()) + kWarmup + kCounted + 1));
    std::vector<float> hidden(p.size() * size_t(d));
    m->forward(p, caches.back(), ws, hidden.data());
    std::copy(hidden.end() - d, hidden.end(), h.begin() + long(ptrs.size()) * d);
    ptrs.push_back(&caches.back());
  }
  std::vector<int32_t> next(B);
  auto step = [&] {
    m->lm_head(h.data(), int64_t(B), logits.data());
    for (size_t k = 0; k < B; ++k) next[k] = int32_t(std::max_element(logits.begin() + long(k) * V, logits.begin() + long(k + 1) * V) - (logits.begin() + long(k) * V));
    m->forward_batch(next, ptrs, ws, h.data());
  };
  for (int64_t i = 0; i < kWarmup; ++i) step();
  start_counting();
  for (int64_t i = 0; i < kCounted; ++i) step();
  EXPECT_EQ(stop_counting(), 0) << "heap allocations in " << kCounted << " batched decode steps (the first of "
                                << g_first_bytes << " bytes)";
}

// The generate loop (one sequence and a batch of three, with SLOT, truncating samplers): nothing
// is allocated between a sequence's kWarmup-th and last token callbacks.
TEST_P(DecodeAlloc, GenerateLoopAllocatesNothingBetweenTokens) {
  auto m = model::Model::load(test::data_path(GetParam()));
  for (size_t batch : {size_t(1), size_t(3)}) {
    const std::vector<std::vector<int32_t>> prompts = {long_prompt(1), {40, 41}, long_prompt(90)};
    const int64_t n_predict = kWarmup + kCounted;
    int64_t seen = 0, allocations = -1;
    std::vector<gen::BatchItem> items;
    for (size_t i = 0; i < batch; ++i) {
      gen::GenerateOptions o;
      o.n_predict = n_predict;
      o.stop_ids = {-1};  // no stop id: every sequence runs its n_predict tokens
      o.sampling = truncating_sampler();
      o.slot.steps = 2;
      gen::TokenCallback cb;
      if (i == 0) {
        cb = [&](int32_t) {
          ++seen;
          if (seen == kWarmup) start_counting();
          if (seen == n_predict) allocations = stop_counting();
          return true;
        };
      }
      items.push_back({prompts[i], o, cb});
    }
    const auto res = gen::generate_batch(*m, items);
    stop_counting();
    ASSERT_EQ(res[0].tokens.size(), size_t(n_predict));
    EXPECT_EQ(allocations, 0) << "heap allocations between tokens " << kWarmup << " and " << n_predict
                              << " of a batch of " << batch << " (the first of " << g_first_bytes << " bytes)";
  }
}

// The loop the server and eval run: Decoder::step() then take_finished() after every step, with
// sequences that joined at different times; nothing is allocated on steps where nobody finishes.
TEST_P(DecodeAlloc, DecoderStepsAllocateNothing) {
  auto m = model::Model::load(test::data_path(GetParam()));
  gen::Decoder dec(*m);
  gen::GenerateOptions o;
  o.n_predict = 2 * kWarmup + kCounted + 1;  // nobody finishes within the counted steps
  o.stop_ids = {-1};
  o.sampling = truncating_sampler();
  o.slot.steps = 2;
  const std::vector<int32_t> a = long_prompt(3), b = {50, 51, 52};
  dec.add(std::vector<gen::BatchItem>{{a, o, {}}});
  for (int64_t i = 0; i < kWarmup; ++i) {
    dec.step();
    dec.take_finished();
  }
  dec.add(std::vector<gen::BatchItem>{{b, o, {}}});  // joins later
  for (int64_t i = 0; i < kWarmup; ++i) {
    dec.step();
    dec.take_finished();
  }
  start_counting();
  for (int64_t i = 0; i < kCounted; ++i) {
    dec.step();
    if (!dec.take_finished().empty()) break;
  }
  const int64_t n = stop_counting();
  EXPECT_EQ(dec.n_active(), 2u);
  EXPECT_EQ(n, 0) << "heap allocations in " << kCounted << " Decoder steps (the first of " << g_first_bytes << " bytes)";
}

INSTANTIATE_TEST_SUITE_P(Models, DecodeAlloc, ::testing::Values("tiny-qwen2", "tiny-qwen2-bf16", "tiny-llama3"),
                         [](const auto& info) { return test::param_name(info.param); });

}  // namespace
}  // namespace slotlm
