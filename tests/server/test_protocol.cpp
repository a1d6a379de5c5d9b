// SPDX-License-Identifier: MIT
// Request parsing/validation and response JSON of the OpenAI schema (server/protocol.h).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/protocol.h"
#include "test_util.h"

namespace slotlm::server {
namespace {

using nlohmann::json;

CompletionRequest parse_chat(const std::string& body, const RequestDefaults& d = {}) {
  return parse_request(body, Endpoint::kChat, d);
}

// Parses `body` expecting a 400 whose `param` is `param`; returns the message.
std::string expect_400(const std::string& body, const std::string& param, Endpoint ep = Endpoint::kChat) {
  try {
    parse_request(body, ep, RequestDefaults{});
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, param) << body << " -> " << e.what();
    EXPECT_EQ(e.type, "invalid_request_error");
    return e.what();
  }
  ADD_FAILURE() << "accepted: " << body;
  return "";
}

TEST(Protocol, ParsesChatRequestWithAllFields) {
  const auto r = parse_chat(R"({"model":"m","messages":[{"role":"system","content":"be brief"},
    {"role":"user","content":[{"type":"text","text":"hi "},{"type":"text","text":"there"}]}],
    "max_tokens":7,"temperature":0.5,"top_p":0.9,"top_k":40,"min_p":0.05,"repeat_penalty":1.1,
    "seed":42,"stop":["\n\n","END"],"stream":true,"stream_options":{"include_usage":true},"n":1,"cache_prompt":false,
    "slot":{"steps":3,"lr":0.05,"beta1":0.8,"beta2":0.99,"eps":1e-6,"weight_decay":0},"user":"ignored"})");
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[1].content, "hi there");
  EXPECT_EQ(*r.max_tokens, 7);
  EXPECT_DOUBLE_EQ(r.sampling.temperature, 0.5);
  EXPECT_DOUBLE_EQ(r.sampling.top_p, 0.9);
  EXPECT_EQ(r.sampling.top_k, 40);
  EXPECT_DOUBLE_EQ(r.sampling.min_p, 0.05);
  EXPECT_DOUBLE_EQ(r.sampling.repeat_penalty, 1.1);
  EXPECT_TRUE(r.has_seed);
  EXPECT_EQ(r.sampling.seed, 42u);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_FALSE(r.cache_prompt);
  EXPECT_TRUE(r.slot_given);
  EXPECT_EQ(r.slot.steps, 3);
  EXPECT_DOUBLE_EQ(r.slot.adam.lr, 0.05);
  EXPECT_DOUBLE_EQ(r.slot.adam.beta1, 0.8);
  EXPECT_DOUBLE_EQ(r.slot.adam.weight_decay, 0);
}

TEST(Protocol, DefaultsComeFromTheServer) {
  RequestDefaults d;
  d.sampling.temperature = 0.7;
  d.slot.steps = 5;
  d.slot.adam.lr = 0.2;
  const auto r = parse_chat(R"({"messages":[{"role":"user","content":"x"}]})", d);
  EXPECT_DOUBLE_EQ(r.sampling.temperature, 0.7);
  EXPECT_EQ(r.slot.steps, 5);
  EXPECT_FALSE(r.max_tokens.has_value());
  EXPECT_FALSE(r.has_seed);
  EXPECT_FALSE(r.stream);
  EXPECT_TRUE(r.cache_prompt);
  // A request can turn the server's SLOT default off, and keeps unset fields at the default.
  const auto off = parse_chat(R"({"messages":[{"role":"user","content":"x"}],"slot":{"steps":0}})", d);
  EXPECT_EQ(off.slot.steps, 0);
  const auto lr_only = parse_chat(R"({"messages":[{"role":"user","content":"x"}],"slot":{"lr":0.01}})", d);
  EXPECT_EQ(lr_only.slot.steps, 5);
  EXPECT_DOUBLE_EQ(lr_only.slot.adam.lr, 0.01);
  // Integral floats (JavaScript numbers) are integers; null means absent.
  const auto f = parse_chat(R"({"messages":[{"role":"user","content":"x"}],"max_tokens":4.0,"stop":null,"seed":null})");
  EXPECT_EQ(*f.max_tokens, 4);
  EXPECT_FALSE(f.has_seed);
}

TEST(Protocol, CompletionPrompts) {
  auto p = [](const std::string& prompt) {
    return parse_request(R"({"prompt":)" + prompt + "}", Endpoint::kCompletion, RequestDefaults{});
  };
  EXPECT_EQ(p(R"("Once upon")").prompt, "Once upon");
  EXPECT_EQ(p(R"(["Once"])").prompt, "Once");
  EXPECT_EQ(p("[1, 2, 3]").prompt_ids, (std::vector<int32_t>{1, 2, 3}));
  const auto one_stop = parse_request(R"({"prompt":"a","stop":"."})", Endpoint::kCompletion, RequestDefaults{});
  EXPECT_EQ(one_stop.stop, std::vector<std::string>{"."});
}

TEST(Protocol, RejectsBadJsonAndWrongTypes) {
  for (const char* body : {"", "{", "not json", "{\"messages\": [}", "[1,2]", "\"text\"", "null"}) {
    try {
      parse_chat(body);
      ADD_FAILURE() << "accepted: " << body;
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status, 400);
      EXPECT_EQ(e.code, "invalid_json");
    }
  }
  const std::string user = R"("messages":[{"role":"user","content":"x"}])";
  expect_400("{}", "messages");
  expect_400(R"({"messages":"hi"})", "messages");
  expect_400(R"({"messages":[]})", "messages");
  expect_400(R"({"messages":[1]})", "messages[0]");
  expect_400(R"({"messages":[{"content":"x"}]})", "messages[0].role");
  expect_400(R"({"messages":[{"role":"wizard","content":"x"}]})", "messages[0].role");
  expect_400(R"({"messages":[{"role":7,"content":"x"}]})", "messages[0].role");
  expect_400(R"({"messages":[{"role":"user"}]})", "messages[0].content");
  expect_400(R"({"messages":[{"role":"user","content":5}]})", "messages[0].content");
  expect_400(R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]})",
             "messages[0].content[0].type");
  expect_400("{" + user + R"(,"max_tokens":"10"})", "max_tokens");
  expect_400("{" + user + R"(,"max_tokens":0})", "max_tokens");
  expect_400("{" + user + R"(,"max_tokens":-3})", "max_tokens");
  expect_400("{" + user + R"(,"max_tokens":2.5})", "max_tokens");
  expect_400("{" + user + R"(,"max_tokens":1e300})", "max_tokens");
  expect_400("{" + user + R"(,"max_tokens":18446744073709551615})", "max_tokens");
  expect_400("{" + user + R"(,"temperature":"hot"})", "temperature");
  expect_400("{" + user + R"(,"temperature":-1})", "temperature");
  expect_400("{" + user + R"(,"top_p":0})", "top_p");
  expect_400("{" + user + R"(,"top_p":1.5})", "top_p");
  expect_400("{" + user + R"(,"top_k":-1})", "top_k");
  expect_400("{" + user + R"(,"min_p":2})", "min_p");
  expect_400("{" + user + R"(,"repeat_penalty":0})", "repeat_penalty");
  expect_400("{" + user + R"(,"seed":"x"})", "seed");
  expect_400("{" + user + R"(,"stream":"yes"})", "stream");
  expect_400("{" + user + R"(,"cache_prompt":1})", "cache_prompt");
  expect_400("{" + user + R"(,"n":2})", "n");
  expect_400("{" + user + R"(,"stop":5})", "stop");
  expect_400("{" + user + R"(,"stop":[""]})", "stop");
  expect_400("{" + user + R"(,"stop":["a","b","c","d","e"]})", "stop");
  expect_400("{" + user + R"(,"stop":["a",1]})", "stop[1]");
  expect_400("{" + user + R"(,"model":3})", "model");
  expect_400("{" + user + R"(,"frequency_penalty":0.5})", "frequency_penalty");
  expect_400("{" + user + R"(,"slot":5})", "slot");
  expect_400("{" + user + R"(,"slot":{"steps":-1}})", "slot.steps");
  expect_400("{" + user + R"(,"slot":{"steps":1000000}})", "slot.steps");
  expect_400("{" + user + R"(,"slot":{"steps":"5"}})", "slot.steps");
  expect_400("{" + user + R"(,"slot":{"lr":0}})", "slot.lr");
  expect_400("{" + user + R"(,"slot":{"beta1":1}})", "slot.beta1");
  expect_400("{" + user + R"(,"slot":{"stpes":5}})", "slot.stpes");
  expect_400(R"({"prompt":5})", "prompt", Endpoint::kCompletion);
  expect_400(R"({"prompt":""})", "prompt", Endpoint::kCompletion);
  expect_400(R"({"prompt":[1,-2]})", "prompt", Endpoint::kCompletion);
  expect_400(R"({"prompt":["a","b"]})", "prompt", Endpoint::kCompletion);
  expect_400(R"({"messages":[{"role":"user","content":"x"}]})", "prompt", Endpoint::kCompletion);
  // Zero penalties (what OpenAI SDKs may send) are accepted.
  EXPECT_NO_THROW(parse_chat("{" + user + R"(,"frequency_penalty":0,"presence_penalty":0.0,"logprobs":false})"));
  // Integers past what a double holds exactly are out of range, not "a fraction".
  EXPECT_NE(expect_400("{" + user + R"(,"max_tokens":99999999999999999999999})", "max_tokens").find("out of range"),
            std::string::npos);
  // SLOT bounds (slot::kMaxLr, kMaxWeightDecay): larger values overflowed the logits to NaN.
  expect_400("{" + user + R"(,"slot":{"lr":1e20}})", "slot.lr");
  expect_400("{" + user + R"(,"slot":{"weight_decay":1e308}})", "slot.weight_decay");
  // Seeds: -1 is random (as the CLI's --seed), below that refused.
  expect_400("{" + user + R"(,"seed":-2})", "seed");
  EXPECT_FALSE(parse_chat("{" + user + R"(,"seed":-1})").has_seed);
  EXPECT_TRUE(parse_chat("{" + user + R"(,"seed":0})").has_seed);
  // Fields that would change the result and are not implemented are refused, not ignored; their
  // neutral values pass.
  expect_400(R"({"prompt":"x","echo":true})", "echo", Endpoint::kCompletion);
  expect_400(R"({"prompt":"x","suffix":"end"})", "suffix", Endpoint::kCompletion);
  expect_400(R"({"prompt":"x","best_of":3})", "best_of", Endpoint::kCompletion);
  expect_400(R"({"prompt":"x","logit_bias":{"50256":-100}})", "logit_bias", Endpoint::kCompletion);
  expect_400("{" + user + R"(,"top_logprobs":2})", "top_logprobs");
  expect_400(R"({"prompt":"x","slot_steps":3})", "slot_steps", Endpoint::kCompletion);
  const std::string neutral = R"({"prompt":"x","echo":false,"suffix":"","best_of":1,"logit_bias":{},"top_logprobs":0})";
  EXPECT_NO_THROW(parse_request(neutral, Endpoint::kCompletion, RequestDefaults{}));
}

TEST(Protocol, ErrorBodyHasOpenAIShape) {
  const json j = error_body(ApiError(400, "'top_p' must be in (0, 1]", "top_p"));
  ASSERT_TRUE(j.contains("error"));
  EXPECT_EQ(j["error"]["message"], "'top_p' must be in (0, 1]");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "top_p");
  EXPECT_TRUE(j["error"]["code"].is_null());
  EXPECT_EQ(error_body(ApiError(401, "no key", "", "invalid_api_key"))["error"]["type"], "authentication_error");
  EXPECT_EQ(error_body(ApiError(503, "loading"))["error"]["type"], "server_unavailable_error");
  EXPECT_EQ(error_body(ApiError(500, "boom"))["error"]["type"], "server_error");
}

CompletionOutcome sample_outcome(bool slot) {
  CompletionOutcome o;
  o.text = "Once upon a time";
  o.finish_reason = "stop";
  o.prompt_tokens = 5;
  o.completion_tokens = 4;
  o.prompt_ms = 1.5;
  o.gen_ms = 2;
  if (slot) {
    o.slot_ran = true;
    o.slot_steps = 2;
    o.slot_lr = 0.1;
    o.slot_losses = {3.0, 2.5};
    o.slot_loss_final = 2.2;
    o.slot_delta_norm = 0.3;
    o.slot_ms = 0.7;
    o.slot_plan = "cached";
  }
  return o;
}

TEST(Protocol, ChatResponseSchema) {
  const ResponseMeta meta{make_response_id(Endpoint::kChat), 1700000000, "tiny"};
  EXPECT_EQ(meta.id.rfind("chatcmpl-", 0), 0u);
  const json j = completion_response(Endpoint::kChat, meta, sample_outcome(true));
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "tiny");
  EXPECT_EQ(j["created"], 1700000000);
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Once upon a time");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(j["usage"]["completion_tokens"], 4);
  EXPECT_EQ(j["usage"]["total_tokens"], 9);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  EXPECT_EQ(j["timings"]["cache_n"], 0);
  EXPECT_TRUE(j["timings"].contains("prompt_ms"));
  EXPECT_TRUE(j["timings"].contains("gen_tok_s"));
  EXPECT_EQ(j["slot"]["steps"], 2);
  EXPECT_EQ(j["slot"]["losses"], json({3.0, 2.5}));
  EXPECT_DOUBLE_EQ(j["slot"]["delta_norm"].get<double>(), 0.3);
  EXPECT_DOUBLE_EQ(j["slot"]["slot_ms"].get<double>(), 0.7);
  EXPECT_TRUE(completion_response(Endpoint::kChat, meta, sample_outcome(false))["slot"].is_null());
  // Cached prompt tokens are reported, and the prompt rate counts only the tokens prefilled.
  CompletionOutcome cached = sample_outcome(false);
  cached.cached_tokens = 2;
  const json c = completion_response(Endpoint::kChat, meta, cached);
  EXPECT_EQ(c["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
  EXPECT_EQ(c["timings"]["cache_n"], 2);
  EXPECT_DOUBLE_EQ(c["timings"]["prompt_tok_s"].get<double>(), 1000.0 * 3 / 1.5);
}

TEST(Protocol, TextCompletionResponseSchema) {
  const ResponseMeta meta{make_response_id(Endpoint::kCompletion), 1, "tiny"};
  EXPECT_EQ(meta.id.rfind("cmpl-", 0), 0u);
  const json j = completion_response(Endpoint::kCompletion, meta, sample_outcome(false));
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], "Once upon a time");
  EXPECT_FALSE(j["choices"][0].contains("message"));
}

TEST(Protocol, ModelsBody) {
  const json j = models_body("tinystories-656k", 5);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["id"], "tinystories-656k");
  EXPECT_EQ(j["data"][0]["object"], "model");
}

TEST(Protocol, DumpReplacesInvalidUtf8) {
  EXPECT_NO_THROW(dump_json(json{{"text", std::string("a\xff" "b")}}));
}

}  // namespace
}  // namespace slotlm::server
