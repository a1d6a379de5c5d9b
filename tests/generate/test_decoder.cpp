// SPDX-License-Identifier: MIT
// Continuous batching: sequences that join a running Decoder between steps get exactly the tokens
// (and SLOT deltas) they get alone, leave as they finish, a bad item adds nothing, and prompts
// prefilled in chunks let the running sequences go on.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "core/error.h"
#include "generate/decoder.h"
#include "generate/prompt_cache.h"
#include "model/model.h"
#include "test_util.h"

namespace slotlm {
namespace {

struct Case {
  std::vector<int32_t> prompt;
  gen::GenerateOptions opt;
};

gen::GenerateOptions options(int64_t n_predict, int slot_steps, uint64_t seed) {
  gen::GenerateOptions o;
  o.n_predict = n_predict;
  o.slot.steps = slot_steps;
  o.slot.adam.lr = 0.05;
  o.stop_ids = {-1};  // no stop id: each sequence runs to its n_predict, so the finishing order is known
  if (seed != 0) {  // a seeded sampler, else greedy
    o.sampling.temperature = 0.8;
    o.sampling.top_p = 0.9;
    o.sampling.seed = seed;
  }
  return o;
}

std::vector<gen::BatchItem> items_of(const std::vector<Case>& cases, size_t begin, size_t end) {
  std::vector<gen::BatchItem> items;
  for (size_t i = begin; i < end; ++i) items.push_back({cases[i].prompt, cases[i].opt, {}});
  return items;
}

TEST(ContinuousBatching, SequencesJoiningMidwayGetTheTokensTheyGetAlone) {
  auto m = model::Model::load(test::data_path("tiny-qwen2"));
  const std::vector<Case> cases = {
      {{144, 55, 15, 189, 153, 34, 160, 133}, options(30, 3, 0)},
      {{9, 200, 31}, options(25, 0, 11)},
      {{77, 4, 150, 150, 88, 12, 19, 240, 3, 5, 6}, options(4, 2, 12)},  // joins late, leaves first
      {{7, 8}, options(12, 0, 0)},
      {{31, 41, 59, 26, 53}, options(0, 0, 0)},  // nothing to generate: finishes at once
  };
  gen::Decoder dec(*m);
  std::vector<int64_t> ids = dec.add(items_of(cases, 0, 2));
  EXPECT_EQ(dec.n_active(), 2u);
  for (int s = 0; s < 5; ++s) dec.step();
  const std::vector<int64_t> later = dec.add(items_of(cases, 2, 5));
  ids.insert(ids.end(), later.begin(), later.end());
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], int64_t(i)) << "ids are consecutive from 0";
  EXPECT_EQ(dec.n_active(), 4u);
  std::map<int64_t, gen::GenerateResult> done;
  std::vector<int64_t> order;
  for (int guard = 0; dec.n_active() > 0 && guard < 100; ++guard) {
    dec.step();
    for (gen::Finished& f : dec.take_finished()) {
      order.push_back(f.id);
      EXPECT_TRUE(done.emplace(f.id, std::move(f.result)).second) << "finished twice: " << f.id;
    }
  }
  ASSERT_EQ(dec.n_active(), 0u);
  ASSERT_EQ(done.size(), cases.size());
  // In add(), the empty one; then 4 and 12 tokens after joining at step 5, then 25 and 30 tokens.
  EXPECT_EQ(order, (std::vector<int64_t>{4, 2, 3, 1, 0}));
  for (size_t i = 0; i < cases.size(); ++i) {
    const gen::GenerateResult alone = gen::generate(*m, cases[i].prompt, cases[i].opt);
    const gen::GenerateResult& got = done.at(int64_t(i));
    EXPECT_EQ(got.tokens, alone.tokens) << "sequence " << i;
    EXPECT_EQ(got.finish, alone.finish) << "sequence " << i;
    ASSERT_EQ(got.slot.has_value(), alone.slot.has_value()) << "sequence " << i;
    if (alone.slot) {
      EXPECT_EQ(got.slot->delta, alone.slot->delta) << "sequence " << i;
    }
    EXPECT_EQ(got.timings.n_gen, int64_t(got.tokens.size()));
  }
  EXPECT_EQ(done.at(0).tokens.size(), 30u);
  EXPECT_TRUE(done.at(4).tokens.empty());
}

TEST(ContinuousBatching, ABadItemAddsNothingAndCancelledSequencesLeave) {
  auto m = model::Model::load(test::data_path("tiny-llama3"));
  gen::Decoder dec(*m);
  const std::vector<int32_t> good = {5, 6, 7}, empty;
  int calls = 0;
  gen::GenerateOptions o = options(20, 0, 0);
  const std::vector<gen::BatchItem> first = {{good, o, [&](int32_t) { return ++calls < 3; }}, {good, o, {}}};
  EXPECT_EQ(dec.add(first), (std::vector<int64_t>{0, 1}));
  const std::vector<gen::BatchItem> bad = {{good, o, {}}, {empty, o, {}}};
  EXPECT_THROW(dec.add(bad), Error);
  EXPECT_EQ(dec.n_active(), 2u) << "nothing of the refused call was added";
  gen::GenerateOptions negative = o;
  negative.n_predict = -1;
  EXPECT_THROW(dec.add(std::vector<gen::BatchItem>{{good, negative, {}}}), Error);
  for (int s = 0; s < 3; ++s) dec.step();
  std::vector<gen::Finished> f = dec.take_finished();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].id, 0);
  EXPECT_EQ(f[0].result.finish, gen::FinishReason::kCancelled);
  EXPECT_EQ(f[0].result.tokens.size(), 3u);
  EXPECT_EQ(dec.n_active(), 1u) << "the other sequence goes on";
  EXPECT_EQ(dec.add(std::vector<gen::BatchItem>{{good, o, {}}}), (std::vector<int64_t>{2}))
      << "refused calls use no ids";
}

// A split prefill's rows equal one prefill's up to f32 rounding (~1e-7 on the tiny f32 models).
constexpr float kChunkedPrefillTol = 1e-4f;

// Mixed steps (the default): b's chunks run in the same forward as a's tokens; else before them.
class ChunkedPrefill : public ::testing::TestWithParam<bool> {};

TEST_P(ChunkedPrefill, PromptsPrefillInChunksWhileOthersDecode) {
  auto m = model::Model::load(test::data_path("tiny-qwen2"));
  gen::Decoder dec(*m);
  dec.set_prefill_chunk(4);
  dec.set_mixed_steps(GetParam());
  const Case a{{9, 200, 31}, options(20, 0, 0)};
  const Case b{{77, 4, 150, 150, 88, 12, 19, 240, 3, 5, 6, 144, 55, 15, 189, 153, 34, 160}, options(5, 2, 0)};
  int64_t a_tokens = 0;
  std::vector<int> slot_steps_seen;
  dec.add(std::vector<gen::BatchItem>{{a.prompt, a.opt, [&](int32_t) { return ++a_tokens > 0; }}});
  for (int s = 0; s < 3; ++s) dec.step();
  EXPECT_EQ(a_tokens, 3) << "a 3-token prompt prefills in one chunk and decodes in the same step";
  dec.add(std::vector<gen::BatchItem>{{b.prompt, b.opt, {}}},
          [&](size_t item, int step, double) {
            EXPECT_EQ(item, 0u);
            slot_steps_seen.push_back(step);
          });
  EXPECT_EQ(dec.n_active(), 2u) << "b is queued for its prefill";
  // 18 prompt tokens in chunks of 4, each step also decoding a: five steps; more in mixed steps,
  // where a's token takes the place of a prompt token and b's rows also count the LM-head product
  // of its SLOT (IncrementalSlot).
  int steps = 0;
  for (; slot_steps_seen.empty() && steps < 40; ++steps) {
    const int64_t before = a_tokens;
    dec.step();
    EXPECT_EQ(a_tokens, before + 1) << "step " << steps << ": a goes on while b prefills";
  }
  if (GetParam()) {
    EXPECT_GT(steps, 5);
  } else {
    EXPECT_EQ(steps, 5);
  }
  EXPECT_EQ(slot_steps_seen, (std::vector<int>{1, 2})) << "b's SLOT ran after its last chunk";
  while (dec.n_active() > 0) dec.step();
  std::map<int64_t, gen::GenerateResult> done;
  for (gen::Finished& f : dec.take_finished()) done.emplace(f.id, std::move(f.result));
  ASSERT_EQ(done.size(), 2u);
  const gen::GenerateResult alone_a = gen::generate(*m, a.prompt, a.opt), alone_b = gen::generate(*m, b.prompt, b.opt);
  EXPECT_EQ(done.at(0).tokens, alone_a.tokens) << "one chunk: the rows of a whole prefill";
  const gen::GenerateResult& got_b = done.at(1);
  ASSERT_TRUE(got_b.slot && alone_b.slot);
  for (size_t j = 0; j < alone_b.slot->delta.size(); ++j)
    ASSERT_NEAR(got_b.slot->delta[j], alone_b.slot->delta[j], kChunkedPrefillTol) << j;
  // The tiny model's top logits are far further apart than this rounding: the same greedy tokens.
  EXPECT_EQ(got_b.tokens, alone_b.tokens);
  EXPECT_EQ(got_b.timings.n_prompt, int64_t(b.prompt.size()));
  EXPECT_GT(got_b.timings.prompt_ms, 0.0);
  EXPECT_THROW(dec.set_prefill_chunk(-1), Error);
}

// A queued prompt that the prompt cache holds whole needs no prefill: it joins without a forward
// of its own (a mixed step has no chunk of it to carry) and gets the tokens it got the first time.
TEST_P(ChunkedPrefill, APromptRestoredWholeJoinsWhileOthersDecode) {
  auto m = model::Model::load(test::data_path("tiny-qwen2"));
  gen::PromptCache cache(size_t(64) << 20);
  gen::Decoder dec(*m, &cache);
  dec.set_prefill_chunk(4);
  dec.set_mixed_steps(GetParam());
  gen::GenerateOptions o = options(6, 0, 0);
  o.cache_prompt = true;
  const std::vector<int32_t> prompt = {77, 4, 150, 150, 88, 12, 19, 240, 3};
  const std::vector<int32_t> other = {9, 200, 31};
  auto run_alone = [&] {
    dec.add(std::vector<gen::BatchItem>{{prompt, o, {}}});
    while (dec.n_active() > 0) dec.step();
    return std::move(dec.take_finished().at(0).result);
  };
  const gen::GenerateResult first = run_alone();
  ASSERT_EQ(first.tokens.size(), 6u);
  // The first run stored the prompt and the 5 tokens fed back: the prompt is whole in the cache.
  dec.add(std::vector<gen::BatchItem>{{other, options(20, 0, 0), {}}});
  for (int s = 0; s < 2; ++s) dec.step();
  dec.add(std::vector<gen::BatchItem>{{prompt, o, {}}});
  std::map<int64_t, gen::GenerateResult> done;
  for (int guard = 0; dec.n_active() > 0 && guard < 50; ++guard) {
    dec.step();
    for (gen::Finished& f : dec.take_finished()) done.emplace(f.id, std::move(f.result));
  }
  ASSERT_EQ(done.size(), 2u);
  const gen::GenerateResult& again = done.at(2);
  EXPECT_EQ(again.timings.n_cached, int64_t(prompt.size()));
  EXPECT_EQ(again.tokens, first.tokens);
  EXPECT_EQ(done.at(1).tokens, gen::generate(*m, other, options(20, 0, 0)).tokens);
}

// A queued prompt whose caller has gone leaves before its next chunk and its SLOT, cancelled with
// no tokens; the rows it prefilled go to the prompt cache, so the same prompt again starts there.
TEST_P(ChunkedPrefill, ACancelledQueuedPromptLeavesBeforeItsNextChunk) {
  auto m = model::Model::load(test::data_path("tiny-qwen2"));
  gen::PromptCache cache(size_t(64) << 20);
  gen::Decoder dec(*m, &cache);
  dec.set_prefill_chunk(4);
  dec.set_mixed_steps(GetParam());
  const std::vector<int32_t> other = {9, 200, 31};
  const std::vector<int32_t> prompt = {77, 4, 150, 150, 88, 12, 19, 240, 3, 5, 6, 144, 55, 15, 189, 153, 34, 160};
  int64_t other_tokens = 0;
  dec.add(std::vector<gen::BatchItem>{{other, options(30, 0, 0), [&](int32_t) { return ++other_tokens > 0; }}});
  dec.step();
  bool gone = false;
  int slot_steps = 0;
  gen::GenerateOptions o = options(5, 3, 0);
  o.cache_prompt = true;
  const std::vector<gen::BatchItem> item = {{prompt, o, {}, [&] { return gone; }}};
  dec.add(item, [&](size_t, int, double) { ++slot_steps; });
  dec.step();
  dec.step();  // two chunks prefilled
  EXPECT_TRUE(dec.take_finished().empty());
  gone = true;
  const int64_t before = other_tokens;
  dec.step();
  std::vector<gen::Finished> f = dec.take_finished();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].id, 1);
  EXPECT_EQ(f[0].result.finish, gen::FinishReason::kCancelled);
  EXPECT_TRUE(f[0].result.tokens.empty());
  EXPECT_FALSE(f[0].result.slot.has_value()) << "its SLOT never ran";
  EXPECT_EQ(slot_steps, 0);
  EXPECT_EQ(dec.n_active(), 1u) << "only the other sequence is left";
  EXPECT_EQ(other_tokens, before + 1) << "and it went on in that step";
  // The two chunks' rows were kept: the same prompt again restores them and prefills the rest.
  gen::GenerateOptions again = o;
  again.slot.steps = 0;
  dec.add(std::vector<gen::BatchItem>{{prompt, again, {}}});
  std::map<int64_t, gen::GenerateResult> done;
  for (int guard = 0; dec.n_active() > 0 && guard < 60; ++guard) {
    dec.step();
    for (gen::Finished& g : dec.take_finished()) done.emplace(g.id, std::move(g.result));
  }
  ASSERT_EQ(done.count(2), 1u);
  // Two steps' chunks: 8 tokens, fewer in mixed steps (a token of `other` and the SLOT rows).
  EXPECT_GT(done.at(2).timings.n_cached, 0);
  EXPECT_LE(done.at(2).timings.n_cached, 8);
  EXPECT_EQ(done.at(2).tokens, gen::generate(*m, prompt, again).tokens);
}

// Mixed steps serve the queued prompts with the fewest tokens left first, several in one forward:
// a short prompt queued behind a long one starts decoding first. Separate steps keep the queue
// order, one prompt per step. Either way each gets the tokens it gets alone.
TEST_P(ChunkedPrefill, AShortPromptDoesNotWaitForALongOneQueuedBeforeIt) {
  auto m = model::Model::load(test::data_path("tiny-qwen2"));
  for (const bool decoding : {true, false}) {
    gen::Decoder dec(*m);
    dec.set_prefill_chunk(4);
    dec.set_mixed_steps(GetParam());
    const std::vector<int32_t> other = {9, 200, 31};
    if (decoding) {
      dec.add(std::vector<gen::BatchItem>{{other, options(40, 0, 0), {}}});
      dec.step();
    }
    const std::vector<int32_t> long_prompt = {77, 4, 150, 150, 88, 12, 19, 240, 3, 5, 6, 144, 55, 15, 189, 153, 34, 160};
    const std::vector<int32_t> short_prompt = {7, 8, 21};
    std::string firsts;
    auto first_of = [&firsts](char who) {
      return [&firsts, who, seen = false](int32_t) mutable {
        if (!seen) firsts += who;
        seen = true;
        return true;
      };
    };
    const gen::GenerateOptions o = options(3, 0, 0);
    dec.add(std::vector<gen::BatchItem>{{long_prompt, o, first_of('L')}});
    dec.add(std::vector<gen::BatchItem>{{short_prompt, o, first_of('S')}});
    std::map<int64_t, gen::GenerateResult> done;
    int steps_to_short = 0;
    for (int guard = 0; dec.n_active() > 0 && guard < 60; ++guard) {
      dec.step();
      if (firsts.find('S') == std::string::npos) ++steps_to_short;
      for (gen::Finished& f : dec.take_finished()) done.emplace(f.id, std::move(f.result));
    }
    const int64_t base = decoding ? 1 : 0;
    ASSERT_EQ(done.count(base), 1u);
    ASSERT_EQ(done.count(base + 1), 1u);
    EXPECT_EQ(firsts, GetParam() ? "SL" : "LS") << "decoding alongside: " << decoding;
    if (GetParam()) {
      EXPECT_LE(steps_to_short, 1) << "one step prefills it, it decodes at the latest in the next";
    }
    EXPECT_EQ(done.at(base).tokens, gen::generate(*m, long_prompt, o).tokens);
    EXPECT_EQ(done.at(base + 1).tokens, gen::generate(*m, short_prompt, o).tokens);
  }
}

INSTANTIATE_TEST_SUITE_P(ContinuousBatching, ChunkedPrefill, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Mixed" : "Separate"; });

}  // namespace
}  // namespace slotlm
