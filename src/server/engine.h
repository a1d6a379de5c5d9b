// SPDX-License-Identifier: MIT
// Runs one validated request on the shared model (server layer): chat template, tokenisation,
// context checks, the decode loop with stop strings and UTF-8-safe text pieces. Uses generate/
// only; also used by `slotlm chat`. Thread-safe: many Requests may run at once on one Engine.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "generate/generate.h"
#include "model/model.h"
#include "server/protocol.h"
#include "tokenizer/tokenizer.h"

namespace slotlm::server {

struct EngineOptions {
  int64_t n_ctx = 0;               // prompt + max_tokens limit per request; 0 = the model's context
  std::string chat_template;       // built-in template name; "" = the model's, else chatml (logged)
};

// A request turned into token ids and decode options, ready for a worker.
struct PreparedRequest {
  CompletionRequest req;
  std::vector<int32_t> prompt_ids;
  gen::GenerateOptions gen;
};

class Engine {
 public:
  // `m` and `tk` must outlive the Engine; both are used const. Throws Error for a bad template name.
  Engine(const model::Model& m, const tok::Tokenizer& tk, const EngineOptions& opt);

  // Renders and tokenises the prompt, checks it against the context and sets n_predict; throws
  // ApiError(400, code "context_length_exceeded") when prompt + max_tokens does not fit.
  PreparedRequest prepare(CompletionRequest req, const RequestDefaults& defaults) const;

  // Called with each new piece of text (whole UTF-8 characters, stop strings removed, never
  // empty); returns false to cancel (client gone).
  using TextCallback = std::function<bool(const std::string&)>;

  // Runs the decode loop. `finish_reason` is "stop" (EOS or a stop string), "length", or
  // "cancelled" when `on_text` returned false. Throws Error only for engine failures.
  CompletionOutcome run(const PreparedRequest& p, const TextCallback& on_text) const;

  // Runs several Requests as one batch (gen::generate_batch: each its own KV cache, sampler, delta
  // and stop strings; one pass over the weights per decode step for all of them). `on_text[i]`
  // belongs to `reqs[i]`; outcomes are in the same order. run() is the one-Request case.
  std::vector<CompletionOutcome> run_batch(const std::vector<const PreparedRequest*>& reqs,
                                           const std::vector<TextCallback>& on_text) const;

  // The prompt text of `messages` under the chat template (with the assistant header).
  std::string render_chat(const std::vector<tok::ChatMessage>& messages) const;

  int64_t n_ctx() const { return n_ctx_; }
  const std::string& template_name() const { return template_name_; }
  const tok::Tokenizer& tokenizer() const { return tk_; }

 private:
  const model::Model& m_;
  const tok::Tokenizer& tk_;
  int64_t n_ctx_;
  std::string template_src_;
  std::string template_name_;  // "model" or the built-in name
};

}  // namespace slotlm::server
