// SPDX-License-Identifier: MIT
// The request engine on the real tiny checkpoint (../shared/models/tinystories-656k): streamed
// pieces add up to the text and are whole UTF-8, stop strings, context checks, SLOT per request.
#include <gtest/gtest.h>

#include "core/error.h"
#include "model/model.h"
#include "server/engine.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace slotlm::server {
namespace {

constexpr const char* kModel = "models/tinystories-656k";

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = uint8_t(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((uint8_t(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

struct Fixture {
  std::unique_ptr<model::Model> m;
  std::unique_ptr<tok::Tokenizer> tk;
  std::unique_ptr<Engine> engine;
  explicit Fixture(const std::string& dir, int64_t n_ctx = 0) {
    m = model::Model::load(dir);
    tk = tok::Tokenizer::load(dir);
    engine = std::make_unique<Engine>(*m, *tk, EngineOptions{n_ctx, ""});
  }
};

CompletionRequest completion(const std::string& prompt, int64_t max_tokens) {
  CompletionRequest r;
  r.endpoint = Endpoint::kCompletion;
  r.prompt = prompt;
  r.max_tokens = max_tokens;
  r.has_seed = true;
  return r;
}

TEST(Engine, StreamedPiecesMakeTheTextAndAreWholeCharacters) {
  SLOTLM_REQUIRE_SHARED(dir, kModel);
  Fixture f(dir);
  EXPECT_EQ(f.engine->template_name(), "chatml");  // the checkpoint has none: the fallback
  const PreparedRequest p = f.engine->prepare(completion("Once upon a time", 40), RequestDefaults{});
  std::string streamed;
  int n_pieces = 0;
  const CompletionOutcome out = f.engine->run(p, [&](const std::string& piece) {
    EXPECT_FALSE(piece.empty());
    EXPECT_TRUE(valid_utf8(piece)) << piece;
    streamed += piece;
    ++n_pieces;
    return true;
  });
  EXPECT_EQ(streamed, out.text);
  EXPECT_GT(n_pieces, 1);
  EXPECT_EQ(out.completion_tokens, 40);
  EXPECT_EQ(out.finish_reason, "length");
  EXPECT_FALSE(out.slot_ran);
  // Greedy is deterministic.
  EXPECT_EQ(f.engine->run(p, {}).text, out.text);
}

TEST(Engine, StopStringEndsAndIsTrimmed) {
  SLOTLM_REQUIRE_SHARED(dir, kModel);
  Fixture f(dir);
  const std::string full = f.engine->run(f.engine->prepare(completion("Once upon a time", 40), {}), {}).text;
  ASSERT_GT(full.size(), 12u);
  const std::string stop = full.substr(8, 3);
  CompletionRequest r = completion("Once upon a time", 40);
  r.stop = {stop};
  std::string streamed;
  const CompletionOutcome out = f.engine->run(f.engine->prepare(r, {}), [&](const std::string& piece) {
    streamed += piece;
    return true;
  });
  EXPECT_EQ(out.finish_reason, "stop");
  EXPECT_EQ(out.text, full.substr(0, full.find(stop)));
  EXPECT_EQ(streamed, out.text);
  EXPECT_LT(out.completion_tokens, 40);
}

TEST(Engine, CancelStopsDecoding) {
  SLOTLM_REQUIRE_SHARED(dir, kModel);
  Fixture f(dir);
  int calls = 0;
  const CompletionOutcome out = f.engine->run(f.engine->prepare(completion("Once upon a time", 100), {}),
                                              [&](const std::string&) { return ++calls < 3; });
  EXPECT_EQ(out.finish_reason, "cancelled");
  EXPECT_EQ(calls, 3);
  EXPECT_LT(out.completion_tokens, 100);
}

TEST(Engine, ContextChecks) {
  SLOTLM_REQUIRE_SHARED(dir, kModel);
  Fixture f(dir, 64);
  EXPECT_EQ(f.engine->n_ctx(), 64);
  try {
    f.engine->prepare(completion("Once upon a time", 60), {});
    ADD_FAILURE() << "prompt + max_tokens > ctx accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.code, "context_length_exceeded");
    EXPECT_EQ(e.param, "max_tokens");
  }
  std::string long_prompt;
  for (int i = 0; i < 100; ++i) long_prompt += "the cat sat. ";
  EXPECT_THROW(f.engine->prepare(completion(long_prompt, 1), {}), ApiError);
  // Without max_tokens the default is capped by what is left of the context.
  CompletionRequest r = completion("Once upon a time", 1);
  r.max_tokens.reset();
  RequestDefaults d;
  d.max_tokens = 1000;
  const PreparedRequest p = f.engine->prepare(r, d);
  EXPECT_EQ(int64_t(p.prompt_ids.size()) + p.gen.n_predict, 64);
  CompletionRequest ids = completion("", 4);
  ids.prompt_ids = {1, 5000};
  EXPECT_THROW(f.engine->prepare(ids, {}), ApiError);  // id outside the vocabulary
  EXPECT_THROW(Engine(*f.m, *f.tk, EngineOptions{100000, ""}), slotlm::Error);
  EXPECT_THROW(Engine(*f.m, *f.tk, EngineOptions{0, "no-such-template"}), slotlm::Error);
}

TEST(Engine, SlotPerRequest) {
  SLOTLM_REQUIRE_SHARED(dir, kModel);
  Fixture f(dir);
  CompletionRequest r;
  r.endpoint = Endpoint::kChat;
  r.messages = {{"system", "You tell stories."}, {"user", "Tell me about a cat."}};
  r.max_tokens = 8;
  r.has_seed = true;
  r.slot.steps = 4;
  const PreparedRequest p = f.engine->prepare(r, {});
  const CompletionOutcome out = f.engine->run(p, {});
  ASSERT_TRUE(out.slot_ran);
  ASSERT_EQ(out.slot_losses.size(), 4u);
  EXPECT_LT(out.slot_loss_final, out.slot_losses.front());
  EXPECT_GT(out.slot_delta_norm, 0);
  // T = 0 is the plain model: same text as a request without SLOT.
  r.slot.steps = 0;
  const CompletionOutcome plain = f.engine->run(f.engine->prepare(r, {}), {});
  EXPECT_FALSE(plain.slot_ran);
  CompletionRequest again = r;
  EXPECT_EQ(f.engine->run(f.engine->prepare(again, {}), {}).text, plain.text);
}

TEST(Engine, PromptCacheServesRepeatsAndTheNextTurn) {
  SLOTLM_REQUIRE_SHARED(dir, kModel);
  auto m = model::Model::load(dir);
  auto tk = tok::Tokenizer::load(dir);
  const Engine engine(*m, *tk, EngineOptions{0, "", size_t(64) << 20});
  CompletionRequest r;
  r.endpoint = Endpoint::kChat;
  r.messages = {{"system", "You tell stories."}, {"user", "Tell me about a cat."}};
  r.max_tokens = 12;
  r.has_seed = true;
  const CompletionOutcome first = engine.run(engine.prepare(r, {}), {});
  EXPECT_EQ(first.cached_tokens, 0);
  // The same request: its whole prompt is cached, so the reply is the same.
  const CompletionOutcome again = engine.run(engine.prepare(r, {}), {});
  EXPECT_EQ(again.cached_tokens, again.prompt_tokens);
  EXPECT_EQ(again.text, first.text);
  // The next turn starts with the first turn's prompt and reply.
  CompletionRequest next = r;
  next.messages.push_back({"assistant", first.text});
  next.messages.push_back({"user", "And a dog?"});
  const CompletionOutcome second = engine.run(engine.prepare(next, {}), {});
  EXPECT_GE(second.cached_tokens, first.prompt_tokens);
  EXPECT_LT(second.cached_tokens, second.prompt_tokens);
  next.cache_prompt = false;
  const CompletionOutcome uncached = engine.run(engine.prepare(next, {}), {});
  EXPECT_EQ(uncached.cached_tokens, 0);
  EXPECT_EQ(uncached.prompt_tokens, second.prompt_tokens);
}

TEST(Engine, BatchEqualsSeparateRunsWithOwnStopsAndDeltas) {
  SLOTLM_REQUIRE_SHARED(dir, kModel);
  Fixture f(dir);
  std::vector<PreparedRequest> ps;
  CompletionRequest a = completion("Once upon a time", 24);
  CompletionRequest b = completion("The cat sat", 12);
  b.slot.steps = 3;  // SLOT for this one only: its own delta
  CompletionRequest c = completion("Lily had a red ball", 30);
  c.stop = {"."};
  for (const auto& r : {a, b, c}) ps.push_back(f.engine->prepare(r, {}));
  std::vector<std::string> streamed(ps.size());
  std::vector<const PreparedRequest*> reqs;
  std::vector<Engine::TextCallback> cbs;
  for (size_t i = 0; i < ps.size(); ++i) {
    reqs.push_back(&ps[i]);
    cbs.push_back([&streamed, i](const std::string& t) {
      streamed[i] += t;
      return true;
    });
  }
  const auto batch = f.engine->run_batch(reqs, cbs);
  ASSERT_EQ(batch.size(), 3u);
  for (size_t i = 0; i < ps.size(); ++i) {
    const CompletionOutcome alone = f.engine->run(ps[i], {});
    EXPECT_EQ(batch[i].text, alone.text) << i;
    EXPECT_EQ(batch[i].finish_reason, alone.finish_reason) << i;
    EXPECT_EQ(streamed[i], batch[i].text) << i;
    EXPECT_EQ(batch[i].slot_ran, i == 1) << i;
  }
}

}  // namespace
}  // namespace slotlm::server
