// SPDX-License-Identifier: MIT
// OpenAI schema mapping (server layer): request JSON -> `CompletionRequest` with validation, and
// the response, stream-chunk and error JSON. No HTTP and no model here, so it is unit-testable.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "generate/sampler.h"
#include "slot/slot.h"
#include "tokenizer/chat_template.h"

namespace slotlm::server {

// A request the server refuses; becomes an HTTP `status` with an OpenAI-style error body
// {"error":{"message","type","param","code"}} (https://platform.openai.com/docs/guides/error-codes).
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string message, std::string param = "", std::string code = "",
           std::string type = "");
  int status;
  std::string param, code, type;
};

// {"error":{"message","type","param","code"}}; `param`/`code` are null when empty.
nlohmann::json error_body(const std::string& message, const std::string& type,
                          const std::string& param = "", const std::string& code = "");
nlohmann::json error_body(const ApiError& e);

// Limits a request may not exceed (named so the error messages and tests share them).
inline constexpr int64_t kMaxStopStrings = 4;         // as OpenAI
inline constexpr size_t kMaxStopBytes = 256;          // per stop string
inline constexpr size_t kMaxMessages = 1024;

enum class Endpoint { kChat, kCompletion };

// Server-wide defaults a request starts from (command-line flags).
struct RequestDefaults {
  gen::SamplerParams sampling;  // seed is ignored: a request without `seed` gets a random one
  slot::SlotOptions slot;       // steps 0 = SLOT off unless the request asks for it
  int64_t max_tokens = 128;     // when the request gives none (further capped by the context)
};

// One validated request, before tokenisation.
struct CompletionRequest {
  Endpoint endpoint = Endpoint::kChat;
  std::string model;                       // echoed back; any name is accepted
  std::vector<tok::ChatMessage> messages;  // kChat
  std::string prompt;                      // kCompletion, text
  std::vector<int32_t> prompt_ids;         // kCompletion, given as token ids (then `prompt` is "")
  std::optional<int64_t> max_tokens;       // unset: the server default, capped by the context
  gen::SamplerParams sampling;
  bool has_seed = false;                   // false: the server picks a random seed
  std::vector<std::string> stop;           // stop strings (cut from the text, finish "stop")
  bool stream = false;
  bool include_usage = false;              // stream_options.include_usage: a final usage chunk
  slot::SlotOptions slot;                  // steps 0 = off
  bool slot_given = false;                 // the request had a `slot` object
  bool cache_prompt = true;                // start from the engine's prompt cache (llama.cpp's field)
};

// Parses and validates a request body; throws ApiError(400, ..., param) naming the bad field.
// Unknown top-level fields are ignored (as llama.cpp's server does); unknown `slot` fields are not.
CompletionRequest parse_request(const std::string& body, Endpoint endpoint,
                                const RequestDefaults& defaults);

// What a finished generation reports back; filled by the engine, turned into JSON below.
struct CompletionOutcome {
  std::string text;                    // generated text, stop string removed
  std::string finish_reason = "length";  // "stop" | "length"
  int64_t prompt_tokens = 0, completion_tokens = 0;
  int64_t cached_tokens = 0;             // prompt tokens taken from the prompt cache
  double queue_ms = 0, prompt_ms = 0, slot_ms = 0, gen_ms = 0;
  bool slot_ran = false;
  int slot_steps = 0;
  double slot_lr = 0, slot_loss_final = 0, slot_delta_norm = 0;
  int slot_diverged_step = 0;  // slot::SlotResult::diverged_step
  std::vector<double> slot_losses;
  std::string slot_plan;
};

// Identity of one response: "chatcmpl-..."/"cmpl-..." id, creation time, model name.
struct ResponseMeta {
  std::string id;
  int64_t created = 0;
  std::string model;
};
std::string make_response_id(Endpoint endpoint);

// The full (non-stream) response: chat.completion or text_completion, with `usage`, `timings`
// and `slot` (null when SLOT did not run).
nlohmann::json completion_response(Endpoint endpoint, const ResponseMeta& meta,
                                   const CompletionOutcome& out);
nlohmann::json usage_json(const CompletionOutcome& out);
nlohmann::json timings_json(const CompletionOutcome& out);
nlohmann::json slot_json(const CompletionOutcome& out);

// Stream chunks (chat.completion.chunk / text_completion). `role_chunk` opens a chat stream;
// `delta_chunk` carries text; `final_chunk` has the finish_reason (and `timings`/`slot`);
// `usage_chunk` has empty choices and the usage (stream_options.include_usage).
nlohmann::json role_chunk(const ResponseMeta& meta);
nlohmann::json delta_chunk(Endpoint endpoint, const ResponseMeta& meta, const std::string& text);
nlohmann::json final_chunk(Endpoint endpoint, const ResponseMeta& meta, const CompletionOutcome& out);
nlohmann::json usage_chunk(Endpoint endpoint, const ResponseMeta& meta, const CompletionOutcome& out);

// GET /v1/models body listing the one loaded model.
nlohmann::json models_body(const std::string& model, int64_t created);

// JSON text for the wire: invalid UTF-8 (never produced by the engine) is replaced, not thrown.
std::string dump_json(const nlohmann::json& j);

}  // namespace slotlm::server
