// SPDX-License-Identifier: MIT
// The prompt cache: the longest cached prefix comes back bit for bit, entries that a longer one
// extends go, the byte budget holds; a Decoder starts a later prompt from a finished reply's rows
// and then generates as a full prefill would (up to f32 rounding).
#include <gtest/gtest.h>

#include <cmath>

#include "generate/decoder.h"
#include "generate/prompt_cache.h"
#include "model/model.h"
#include "test_util.h"

namespace slotlm {
namespace {

// A prefill split in two differs from one prefill at the f32 rounding level (the products' rows
// depend on how many rows they have); hidden states of the tiny models are O(1).
constexpr float kSplitPrefillTol = 1e-4f;

struct Prefilled {
  model::KvCache cache;
  std::vector<float> hidden;
};

Prefilled prefill(const model::Model& m, const std::vector<int32_t>& tokens) {
  Prefilled p{m.new_cache(int64_t(tokens.size())), std::vector<float>(tokens.size() * size_t(m.d_model()))};
  model::Workspace ws;
  m.forward(tokens, p.cache, ws, p.hidden.data());
  return p;
}

TEST(PromptCache, RestoresTheLongestPrefixBitForBit) {
  auto m = model::Model::load(test::data_path("tiny-qwen2"));
  const int64_t d = m->d_model();
  const std::vector<int32_t> a = {5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
  const Prefilled pa = prefill(*m, a);
  gen::PromptCache pc(size_t(64) << 20);
  pc.store(a, pa.cache, pa.hidden.data(), 10, d);
  EXPECT_EQ(pc.n_entries(), 1u);

  const std::vector<int32_t> q = {5, 6, 7, 8, 9, 10, 99, 98};  // shares 6 tokens with a
  auto cache = m->new_cache(20);
  std::vector<float> hidden(q.size() * size_t(d), -1.f);
  ASSERT_EQ(pc.restore(q, cache, hidden.data(), d), 6);
  EXPECT_EQ(cache.n_past(), 6);
  for (int64_t l = 0; l < m->config().num_hidden_layers; ++l)
    for (int64_t i = 0; i < 6 * cache.row_dim(); ++i) {
      ASSERT_EQ(cache.k(l)[i], pa.cache.k(l)[i]) << l << " " << i;
      ASSERT_EQ(cache.v(l)[i], pa.cache.v(l)[i]) << l << " " << i;
    }
  for (int64_t i = 0; i < 6 * d; ++i) ASSERT_EQ(hidden[size_t(i)], pa.hidden[size_t(i)]) << i;
  EXPECT_EQ(hidden[size_t(6 * d)], -1.f) << "rows past the prefix are not touched";

  // The rest prefilled after the restored prefix: what one prefill gives, up to rounding.
  model::Workspace ws;
  m->forward(std::span<const int32_t>(q).subspan(6), cache, ws, hidden.data() + 6 * d);
  const Prefilled pq = prefill(*m, q);
  for (size_t i = 0; i < hidden.size(); ++i) ASSERT_NEAR(hidden[i], pq.hidden[i], kSplitPrefillTol) << i;

  auto other = m->new_cache(4);
  EXPECT_EQ(pc.restore(std::vector<int32_t>{1, 2, 3}, other, hidden.data(), d), 0);
  EXPECT_EQ(other.n_past(), 0);
}

TEST(PromptCache, ExtendedEntriesGoAndTheBudgetHolds) {
  auto m = model::Model::load(test::data_path("tiny-llama3"));
  const int64_t d = m->d_model();
  const std::vector<int32_t> a = {5, 6, 7, 8}, longer = {5, 6, 7, 8, 9, 10}, b = {40, 41, 42, 43, 44, 45};
  const Prefilled pa = prefill(*m, a), pl = prefill(*m, longer), pb = prefill(*m, b);
  gen::PromptCache pc(size_t(64) << 20);
  pc.store(a, pa.cache, pa.hidden.data(), 4, d);
  pc.store(longer, pl.cache, pl.hidden.data(), 6, d);
  EXPECT_EQ(pc.n_entries(), 1u) << "the entry that `longer` extends is dropped";
  pc.store(a, pa.cache, pa.hidden.data(), 4, d);
  EXPECT_EQ(pc.n_entries(), 1u) << "a prefix of a kept entry adds nothing";
  const size_t one = pc.bytes();
  EXPECT_GT(one, 0u);

  // Room for one entry of this size: storing another drops the least recently used.
  gen::PromptCache small(one + one / 2);
  small.store(longer, pl.cache, pl.hidden.data(), 6, d);
  small.store(b, pb.cache, pb.hidden.data(), 6, d);
  EXPECT_EQ(small.n_entries(), 1u);
  EXPECT_LE(small.bytes(), one + one / 2);
  auto cache = m->new_cache(8);
  std::vector<float> hidden(8 * size_t(d));
  EXPECT_EQ(small.restore(b, cache, hidden.data(), d), 6) << "the newest entry stays";
  gen::PromptCache none(0);
  none.store(b, pb.cache, pb.hidden.data(), 6, d);
  EXPECT_EQ(none.n_entries(), 0u);
}

TEST(PromptCache, DecoderStartsTheNextTurnFromTheFinishedReply) {
  auto m = model::Model::load(test::data_path("tiny-qwen2"));
  gen::PromptCache pc(size_t(64) << 20);
  gen::GenerateOptions o;
  o.n_predict = 6;
  o.stop_ids = {-1};  // every reply runs its 6 tokens
  o.cache_prompt = true;
  const std::vector<int32_t> p = {144, 55, 15, 189, 153, 34, 160, 133};
  gen::Decoder dec(*m, &pc);
  auto run = [&](const std::vector<int32_t>& prompt, const gen::GenerateOptions& opt) {
    dec.add(std::vector<gen::BatchItem>{{prompt, opt, {}}});
    while (dec.n_active() > 0) dec.step();
    return std::move(dec.take_finished().at(0).result);
  };
  const gen::GenerateResult first = run(p, o);
  EXPECT_EQ(first.timings.n_cached, 0);
  // The same prompt again: all of it comes from the cache, so the reply is the same bit for bit.
  const gen::GenerateResult again = run(p, o);
  EXPECT_EQ(again.timings.n_cached, int64_t(p.size()));
  EXPECT_EQ(again.tokens, first.tokens);

  // The next turn: the prompt, the reply, then new tokens. The cache holds the prompt and the
  // reply's tokens that were fed back (all but the last).
  std::vector<int32_t> next = p;
  next.insert(next.end(), first.tokens.begin(), first.tokens.end());
  next.insert(next.end(), {7, 8, 9});
  gen::GenerateOptions with_slot = o;
  with_slot.slot.steps = 2;
  with_slot.slot.adam.lr = 0.05;
  const gen::GenerateResult cached = run(next, with_slot);
  EXPECT_EQ(cached.timings.n_cached, int64_t(p.size() + first.tokens.size() - 1));
  gen::GenerateOptions plain = with_slot;
  plain.cache_prompt = false;
  const gen::GenerateResult full = run(next, plain);
  EXPECT_EQ(full.timings.n_cached, 0);
  // SLOT over the restored rows: the delta of a full prefill, up to rounding.
  ASSERT_TRUE(cached.slot && full.slot);
  ASSERT_EQ(cached.slot->delta.size(), full.slot->delta.size());
  for (size_t j = 0; j < full.slot->delta.size(); ++j)
    EXPECT_NEAR(cached.slot->delta[j], full.slot->delta[j], kSplitPrefillTol) << j;
  for (size_t i = 0; i < full.slot->loss.size(); ++i) EXPECT_NEAR(cached.slot->loss[i], full.slot->loss[i], 1e-4);
  EXPECT_EQ(cached.tokens.size(), full.tokens.size());
}

}  // namespace
}  // namespace slotlm
