// SPDX-License-Identifier: MIT
// Samplers: greedy, seeded reproducibility, top-k / top-p / min-p truncation, HF repetition
// penalty, and that sampling follows the softmax distribution.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/error.h"
#include "generate/generate.h"
#include "generate/sampler.h"
#include "model/model.h"
#include "test_util.h"

namespace slotlm {
namespace {

std::vector<float> logits5() { return {1.0f, 3.0f, 2.5f, -1.0f, 0.5f}; }

TEST(Sampler, GreedyIsArgmax) {
  gen::Sampler s(gen::SamplerParams{});
  auto z = logits5();
  EXPECT_EQ(s.sample(z.data(), 5, {}), 1);
}

TEST(Sampler, TruncationsReduceToArgmax) {
  for (int which = 0; which < 3; ++which) {
    gen::SamplerParams p;
    p.temperature = 1.0;
    p.seed = 7;
    if (which == 0) p.top_k = 1;
    if (which == 1) p.top_p = 1e-6;
    if (which == 2) p.min_p = 1.0;
    gen::Sampler s(p);
    for (int i = 0; i < 50; ++i) {
      auto z = logits5();
      EXPECT_EQ(s.sample(z.data(), 5, {}), 1) << "mode " << which;
    }
  }
}

TEST(Sampler, TopKTwoOnlyPicksTheTwoBest) {
  gen::SamplerParams p;
  p.temperature = 1.0;
  p.top_k = 2;
  p.seed = 3;
  gen::Sampler s(p);
  std::map<int, int> seen;
  for (int i = 0; i < 400; ++i) {
    auto z = logits5();
    ++seen[s.sample(z.data(), 5, {})];
  }
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_GT(seen[1], seen[2]);  // p(1) / p(2) = e^0.5 = 1.65
}

TEST(Sampler, FrequenciesFollowSoftmax) {
  gen::SamplerParams p;
  p.temperature = 1.0;
  p.seed = 11;
  gen::Sampler s(p);
  const auto base = logits5();
  double sum = 0;
  for (float v : base) sum += std::exp(v);
  constexpr int kDraws = 20000;
  std::vector<int> count(5);
  for (int i = 0; i < kDraws; ++i) {
    auto z = base;
    ++count[size_t(s.sample(z.data(), 5, {}))];
  }
  for (int i = 0; i < 5; ++i) {
    const double p_i = std::exp(base[size_t(i)]) / sum;
    // 5 standard deviations of a binomial proportion: fails by chance < 1e-6 (and the seed is fixed).
    const double sd = std::sqrt(p_i * (1 - p_i) / kDraws);
    EXPECT_NEAR(count[size_t(i)] / double(kDraws), p_i, 5 * sd) << "token " << i;
  }
}

TEST(Sampler, SameSeedSameOutput) {
  gen::SamplerParams p;
  p.temperature = 1.5;
  p.seed = 1234;
  gen::Sampler a(p), b(p);
  for (int i = 0; i < 100; ++i) {
    auto z1 = logits5(), z2 = logits5();
    ASSERT_EQ(a.sample(z1.data(), 5, {}), b.sample(z2.data(), 5, {}));
  }
}

TEST(Sampler, RepetitionPenaltyAsHF) {
  // HF RepetitionPenaltyLogitsProcessor: seen ids get logit / r if > 0, logit * r if < 0.
  gen::SamplerParams p;
  p.repeat_penalty = 2.0;
  gen::Sampler s(p);
  auto z = logits5();
  const std::vector<int32_t> hist = {1, 3, 1};
  const int32_t id = s.sample(z.data(), 5, hist);
  EXPECT_FLOAT_EQ(z[1], 1.5f);   // 3.0 / 2, applied once despite appearing twice
  EXPECT_FLOAT_EQ(z[3], -2.0f);  // -1.0 * 2
  EXPECT_FLOAT_EQ(z[2], 2.5f);
  EXPECT_EQ(id, 2);
}

// A temperature so small that the best logit over it overflows (1e-40: 3 / 1e-40 is +inf in f32)
// acts as greedy, its limit, rather than drawing from NaN probabilities (which picked ids
// uniformly). Also with every logit negative (the best over it is -inf), and with a repeat penalty
// so strong that a seen id's logit overflows (it is then the argmax).
TEST(Sampler, OverflowingTemperatureActsGreedy) {
  for (double t : {1e-30, 1e-40, 1e-300}) {
    gen::SamplerParams p;
    p.temperature = t;
    p.seed = 5;
    gen::Sampler s(p);
    for (int i = 0; i < 50; ++i) {
      auto z = logits5();
      ASSERT_EQ(s.sample(z.data(), 5, {}), 1) << "temperature " << t;
      std::vector<float> neg = {-4.0f, -3.0f, -2.5f, -1.0f, -9.0f};
      ASSERT_EQ(s.sample(neg.data(), 5, {}), 3) << "temperature " << t << ", negative logits";
    }
  }
  gen::SamplerParams p;
  p.temperature = 1.0;
  p.repeat_penalty = 1e-300;
  p.seed = 5;
  gen::Sampler s(p);
  for (int i = 0; i < 50; ++i) {
    auto z = logits5();
    ASSERT_EQ(s.sample(z.data(), 5, std::vector<int32_t>{4}), 4);  // 0.5 / 1e-300: +inf
  }
}

TEST(Sampler, InvalidParamsRefused) {
  gen::SamplerParams p;
  p.temperature = -1;
  EXPECT_THROW(gen::validate(p), Error);
  p = {};
  p.top_p = 1.5;
  EXPECT_THROW(gen::validate(p), Error);
  p = {};
  p.repeat_penalty = 0;
  EXPECT_THROW(gen::validate(p), Error);
}

TEST(Generate, SeededSamplingReproducibleAndStopsOnEos) {
  auto m = model::Model::load(test::data_path("tiny-qwen2"));
  const std::vector<int32_t> prompt = {5, 6, 7, 8};
  gen::GenerateOptions o;
  o.n_predict = 20;
  o.sampling.temperature = 1.0;
  o.sampling.seed = 99;
  const auto a = gen::generate(*m, prompt, o), b = gen::generate(*m, prompt, o);
  EXPECT_EQ(a.tokens, b.tokens);
  // Make the first greedy token a stop id: generation ends at once with finish "stop".
  gen::GenerateOptions g;
  g.n_predict = 5;
  const auto first = gen::generate(*m, prompt, g).tokens.at(0);
  g.stop_ids = {first};
  const auto stopped = gen::generate(*m, prompt, g);
  EXPECT_TRUE(stopped.tokens.empty());
  EXPECT_EQ(stopped.finish, gen::FinishReason::kStop);
}

TEST(Generate, CallbackCancels) {
  auto m = model::Model::load(test::data_path("tiny-qwen2"));
  gen::GenerateOptions o;
  o.n_predict = 20;
  int calls = 0;
  const auto r = gen::generate(*m, std::vector<int32_t>{5, 6}, o, [&](int32_t) { return ++calls < 3; });
  EXPECT_EQ(r.tokens.size(), 3u);
  EXPECT_EQ(r.finish, gen::FinishReason::kCancelled);
}

}  // namespace
}  // namespace slotlm

namespace slotlm {
namespace {

TEST(GenerateBatch, EqualsSeparateRunsWithOwnDeltas) {
  auto m = model::Model::load(test::data_path("tiny-qwen2"));
  const std::vector<std::vector<int32_t>> prompts = {
      {144, 55, 15, 189, 153, 34, 160, 133}, {9, 200, 31}, {77, 4, 150, 150, 88, 12, 19, 240, 3, 5, 6}, {7, 8}};
  std::vector<gen::BatchItem> items;
  for (size_t i = 0; i < prompts.size(); ++i) {
    gen::GenerateOptions o;
    o.n_predict = 10 + int64_t(i) * 4;  // different lengths: sequences leave the batch at different steps
    o.slot.steps = i == 1 ? 0 : 3;      // SLOT on some of them, one delta each
    if (i >= 2) {  // seeded samplers (the batch samples its sequences in parallel)
      o.sampling.temperature = 0.9;
      o.sampling.top_p = 0.95;
      o.sampling.seed = 100 + i;
    }
    items.push_back({prompts[i], o, {}});
  }
  const auto batch = gen::generate_batch(*m, items);
  ASSERT_EQ(batch.size(), prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    const auto alone = gen::generate(*m, prompts[i], items[i].opt);
    EXPECT_EQ(batch[i].tokens, alone.tokens) << "sequence " << i;
    EXPECT_EQ(batch[i].slot.has_value(), alone.slot.has_value());
    if (alone.slot) {
      EXPECT_EQ(batch[i].slot->delta, alone.slot->delta) << "sequence " << i;
    }
  }
  EXPECT_NE(batch[0].slot->delta, batch[2].slot->delta);
}

TEST(GenerateBatch, ForwardBatchMatchesSingleForward) {
  auto m = model::Model::load(test::data_path("tiny-llama3"));
  const std::vector<int32_t> a = {5, 6, 7}, b = {100, 101};
  const int64_t d = m->d_model();
  model::Workspace ws;
  auto ca = m->new_cache(8), cb = m->new_cache(8), sa = m->new_cache(8), sb = m->new_cache(8);
  std::vector<float> tmp(8 * size_t(d));
  m->forward(a, ca, ws, tmp.data());
  m->forward(b, cb, ws, tmp.data());
  m->forward(a, sa, ws, tmp.data());
  m->forward(b, sb, ws, tmp.data());
  const std::vector<int32_t> next = {42, 43};
  model::KvCache* caches[] = {&ca, &cb};
  std::vector<float> batched(2 * size_t(d)), single(2 * size_t(d));
  m->forward_batch(next, caches, ws, batched.data());
  m->forward(std::span<const int32_t>(&next[0], 1), sa, ws, single.data());
  m->forward(std::span<const int32_t>(&next[1], 1), sb, ws, single.data() + d);
  for (int64_t j = 0; j < 2 * d; ++j) EXPECT_NEAR(batched[size_t(j)], single[size_t(j)], 1e-5f) << j;
  EXPECT_EQ(ca.n_past(), 4);
  EXPECT_EQ(cb.n_past(), 3);
}

}  // namespace
}  // namespace slotlm
