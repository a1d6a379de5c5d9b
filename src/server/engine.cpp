// SPDX-License-Identifier: MIT
#include "server/engine.h"

#include <memory>
#include <random>

#include "core/error.h"
#include "core/log.h"
#include "server/stop_filter.h"
#include "tokenizer/chat_template.h"

namespace slotlm::server {

namespace {
// Used when the model has no chat template and none was named (tiny test checkpoints).
constexpr const char* kFallbackTemplate = "chatml";
}  // namespace

Engine::Engine(const model::Model& m, const tok::Tokenizer& tk, const EngineOptions& opt) : m_(m), tk_(tk) {
  const int64_t max_ctx = m.config().max_position_embeddings;
  if (opt.n_ctx < 0) fail("--ctx must be >= 0 (0 = the model's context)");
  if (opt.n_ctx > max_ctx) fail("--ctx ", opt.n_ctx, " exceeds the model's context (max_position_embeddings = ", max_ctx, ")");
  n_ctx_ = opt.n_ctx > 0 ? opt.n_ctx : max_ctx;
  if (opt.prompt_cache_bytes > 0) prompt_cache_ = std::make_unique<gen::PromptCache>(opt.prompt_cache_bytes);
  if (!opt.chat_template.empty()) {
    template_src_ = tok::builtin_chat_template(opt.chat_template);
    template_name_ = opt.chat_template;
  } else if (!tk.chat_template().empty()) {
    template_src_ = tk.chat_template();
    template_name_ = "model";
  } else {
    template_src_ = tok::builtin_chat_template(kFallbackTemplate);
    template_name_ = kFallbackTemplate;
    log_info("slotlm: the model has no chat template; using the built-in '", kFallbackTemplate,
             "' (choose another with --chat-template NAME)");
  }
}

std::string Engine::render_chat(const std::vector<tok::ChatMessage>& messages) const {
  tok::ChatTemplateOptions to;
  to.bos_token = tk_.bos_token();
  to.eos_token = tk_.eos_token();
  return tok::render_chat_template(template_src_, messages, to);
}

PreparedRequest Engine::prepare(CompletionRequest req, const RequestDefaults& defaults) const {
  PreparedRequest p;
  if (req.endpoint == Endpoint::kChat) {
    std::string text;
    try {
      text = render_chat(req.messages);
    } catch (const Error& e) {
      throw ApiError(400, str_cat("the chat template could not render these messages: ", e.what()), "messages");
    }
    tok::EncodeOptions eo;
    eo.add_special = false;  // the template holds the special tokens (as HF apply_chat_template)
    p.prompt_ids = tk_.encode(text, eo);
  } else if (!req.prompt_ids.empty()) {
    p.prompt_ids = req.prompt_ids;
    for (int32_t id : p.prompt_ids)
      if (id >= m_.n_vocab()) throw ApiError(400, str_cat("token id ", id, " is outside the vocabulary (", m_.n_vocab(), ")"), "prompt");
  } else {
    tok::EncodeOptions eo;
    eo.add_special = true;  // as HF tokenizer(text): BOS where the model wants it
    p.prompt_ids = tk_.encode(req.prompt, eo);
  }
  const int64_t n_prompt = int64_t(p.prompt_ids.size());
  if (n_prompt == 0) throw ApiError(400, "the prompt encodes to no tokens", req.endpoint == Endpoint::kChat ? "messages" : "prompt");
  if (n_prompt >= n_ctx_)
    throw ApiError(400, str_cat("this server's context is ", n_ctx_, " tokens, but the prompt has ", n_prompt,
                                " (no room left for the completion)"),
                   req.endpoint == Endpoint::kChat ? "messages" : "prompt", "context_length_exceeded");
  int64_t n_predict = std::min(defaults.max_tokens, n_ctx_ - n_prompt);
  if (req.max_tokens) {
    if (n_prompt + *req.max_tokens > n_ctx_)
      throw ApiError(400, str_cat("this server's context is ", n_ctx_, " tokens, but ", n_prompt + *req.max_tokens,
                                  " were requested (", n_prompt, " in the prompt, ", *req.max_tokens, " in the completion)"),
                     "max_tokens", "context_length_exceeded");
    n_predict = *req.max_tokens;
  }
  p.gen.n_predict = n_predict;
  p.gen.sampling = req.sampling;
  if (!req.has_seed) p.gen.sampling.seed = std::random_device{}();
  p.gen.slot = req.slot;
  p.gen.cache_prompt = req.cache_prompt;
  p.req = std::move(req);
  return p;
}

CompletionOutcome Engine::run(const PreparedRequest& p, const TextCallback& on_text) const {
  return std::move(run_batch({&p}, {on_text})[0]);
}

// Text side of one Request while it decodes: UTF-8-safe pieces, stop strings, cancellation.
struct DecodeBatch::Text {
  Text(const tok::Tokenizer& tk, const PreparedRequest& p, Engine::TextCallback cb)
      : req(p), decoder(tk), stop(p.req.stop), on_text(std::move(cb)) {}
  const PreparedRequest& req;
  tok::StreamDecoder decoder;
  StopFilter stop;
  Engine::TextCallback on_text;
  CompletionOutcome out;
  bool cancelled = false;

  bool emit(const std::string& piece) {
    if (piece.empty() || !on_text) return true;
    if (!on_text(piece)) cancelled = true;
    return !cancelled;
  }
  bool on_token(int32_t id) {
    const std::string piece = stop.push(decoder.push(id));
    out.text += piece;
    if (!emit(piece)) return false;
    return !stop.stopped();
  }
  // The Request's outcome once its sequence has left the decoder with `r`.
  CompletionOutcome finish(const gen::GenerateResult& r) {
    if (!stop.stopped() && !cancelled) {
      const std::string rest = stop.push(decoder.flush()) + stop.flush();
      out.text += rest;
      emit(rest);
    }
    if (cancelled || (r.finish == gen::FinishReason::kCancelled && !stop.stopped())) out.finish_reason = "cancelled";
    else if (stop.stopped() || r.finish == gen::FinishReason::kStop) out.finish_reason = "stop";
    else out.finish_reason = "length";
    out.prompt_tokens = int64_t(req.prompt_ids.size());
    out.completion_tokens = int64_t(r.tokens.size());
    out.cached_tokens = r.timings.n_cached;
    out.prompt_ms = r.timings.prompt_ms;
    out.slot_ms = r.timings.slot_ms;
    out.gen_ms = r.timings.gen_ms;
    if (r.slot && r.slot->ran) {
      out.slot_ran = true;
      out.slot_steps = req.gen.slot.steps;
      out.slot_lr = req.gen.slot.adam.lr;
      out.slot_losses = r.slot->loss;
      out.slot_loss_final = r.slot->loss_final;
      out.slot_delta_norm = r.slot->delta_norm;
      out.slot_plan = r.slot->plan;
      out.slot_diverged_step = r.slot->diverged_step;
    }
    return std::move(out);
  }
};

DecodeBatch::DecodeBatch(const Engine& e, int64_t prefill_chunk) : e_(e), dec_(e.model(), e.prompt_cache()) {
  dec_.set_prefill_chunk(prefill_chunk);
}
DecodeBatch::~DecodeBatch() = default;

std::vector<int64_t> DecodeBatch::add(const std::vector<const PreparedRequest*>& reqs,
                                      const std::vector<Engine::TextCallback>& on_text,
                                      const std::vector<std::function<bool()>>& cancelled) {
  if (reqs.size() != on_text.size()) fail("DecodeBatch::add: ", reqs.size(), " requests for ", on_text.size(), " callbacks");
  if (!cancelled.empty() && cancelled.size() != reqs.size())
    fail("DecodeBatch::add: ", reqs.size(), " requests for ", cancelled.size(), " cancel checks");
  std::vector<std::unique_ptr<Text>> texts;
  std::vector<gen::BatchItem> items;
  for (size_t i = 0; i < reqs.size(); ++i) {
    texts.push_back(std::make_unique<Text>(e_.tokenizer(), *reqs[i], on_text[i]));
    Text* t = texts.back().get();
    items.push_back({reqs[i]->prompt_ids, reqs[i]->gen, [t](int32_t id) { return t->on_token(id); },
                     cancelled.empty() ? nullptr : cancelled[i]});
  }
  const std::vector<int64_t> ids = dec_.add(items);
  for (size_t i = 0; i < ids.size(); ++i) text_[ids[i]] = std::move(texts[i]);
  return ids;
}

void DecodeBatch::step() { dec_.step(); }

std::vector<std::pair<int64_t, CompletionOutcome>> DecodeBatch::take_finished() {
  std::vector<std::pair<int64_t, CompletionOutcome>> outs;
  for (const gen::Finished& f : dec_.take_finished()) {
    auto it = text_.find(f.id);
    outs.emplace_back(f.id, it->second->finish(f.result));
    text_.erase(it);
  }
  return outs;
}

std::vector<CompletionOutcome> Engine::run_batch(const std::vector<const PreparedRequest*>& reqs,
                                                 const std::vector<TextCallback>& on_text) const {
  DecodeBatch batch(*this);
  const std::vector<int64_t> ids = batch.add(reqs, on_text);
  std::vector<CompletionOutcome> outs(reqs.size());
  auto collect = [&] {
    for (auto& [id, out] : batch.take_finished()) outs[size_t(id - ids.front())] = std::move(out);
  };
  collect();
  while (batch.n_active() > 0) {
    batch.step();
    collect();
  }
  return outs;
}

}  // namespace slotlm::server
