// SPDX-License-Identifier: MIT
// Runs one validated request on the shared model (server layer): chat template, tokenisation,
// context checks, the decode loop with stop strings and UTF-8-safe text pieces. Uses generate/
// only; also used by `slotlm chat`. Thread-safe: many Requests may run at once on one Engine.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "generate/decoder.h"
#include "generate/generate.h"
#include "model/model.h"
#include "server/protocol.h"
#include "tokenizer/tokenizer.h"

namespace slotlm::server {

struct EngineOptions {
  int64_t n_ctx = 0;               // prompt + max_tokens limit per request; 0 = the model's context
  std::string chat_template;       // built-in template name; "" = the model's, else chatml (logged)
  size_t prompt_cache_bytes = 0;   // budget of the prompt cache (gen::PromptCache); 0 = none
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

  // Runs several Requests as one batch (a DecodeBatch: each its own KV cache, sampler, delta and
  // stop strings; one pass over the weights per decode step for all of them). `on_text[i]`
  // belongs to `reqs[i]`; outcomes are in the same order. run() is the one-Request case.
  std::vector<CompletionOutcome> run_batch(const std::vector<const PreparedRequest*>& reqs,
                                           const std::vector<TextCallback>& on_text) const;

  // The prompt text of `messages` under the chat template (with the assistant header).
  std::string render_chat(const std::vector<tok::ChatMessage>& messages) const;

  int64_t n_ctx() const { return n_ctx_; }
  const model::Model& model() const { return m_; }
  // Shared by every Request that asks for it (thread-safe); null without a budget.
  gen::PromptCache* prompt_cache() const { return prompt_cache_.get(); }
  const std::string& template_name() const { return template_name_; }
  const tok::Tokenizer& tokenizer() const { return tk_; }

 private:
  const model::Model& m_;
  const tok::Tokenizer& tk_;
  int64_t n_ctx_;
  std::string template_src_;
  std::string template_name_;  // "model" or the built-in name
  std::unique_ptr<gen::PromptCache> prompt_cache_;
};

// Requests decoding together on one gen::Decoder (continuous batching): more join between steps,
// each leaves with its outcome as it finishes. The server's decode loop and Engine::run_batch use
// it. One thread uses a DecodeBatch at a time.
class DecodeBatch {
 public:
  // `prefill_chunk` > 0: prompts prefill that many tokens per step (gen::Decoder::set_prefill_chunk).
  explicit DecodeBatch(const Engine& e, int64_t prefill_chunk = 0);
  ~DecodeBatch();

  // Prefills the Requests and runs their SLOT now (one optimize_batch when their options agree);
  // they decode from the next step(). Returns their ids, in order. Each PreparedRequest and
  // callback must stay alive until its Request finishes. Throws Error: then nothing is added.
  // `cancelled[i]`, when given, tells that reqs[i]'s client has gone while its prompt waits for
  // its prefill chunks (gen::BatchItem::cancelled): it then finishes "cancelled" at once.
  std::vector<int64_t> add(const std::vector<const PreparedRequest*>& reqs,
                           const std::vector<Engine::TextCallback>& on_text,
                           const std::vector<std::function<bool()>>& cancelled = {});
  // One decode step of every active Request (gen::Decoder::step).
  void step();
  size_t n_active() const { return dec_.n_active(); }
  // The Requests that finished since the last call, with their ids, in the order they finished.
  std::vector<std::pair<int64_t, CompletionOutcome>> take_finished();

 private:
  struct Text;
  const Engine& e_;
  gen::Decoder dec_;
  std::map<int64_t, std::unique_ptr<Text>> text_;  // by id, until the Request finishes
};

}  // namespace slotlm::server
