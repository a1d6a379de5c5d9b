// SPDX-License-Identifier: MIT
#include "generate/generate.h"

#include <algorithm>

#include "core/error.h"
#include "core/timer.h"

namespace slotlm::gen {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kLength: return "length";
    case FinishReason::kStop: return "stop";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "?";
}

GenerateResult generate(const model::Model& m, std::span<const int32_t> prompt,
                        const GenerateOptions& opt, const TokenCallback& on_token,
                        const slot::StepCallback& on_slot_step) {
  validate(opt.sampling);
  const int64_t n_prompt = int64_t(prompt.size()), d = m.d_model(), V = m.n_vocab();
  const int64_t max_ctx = m.config().max_position_embeddings;
  if (n_prompt == 0) fail("the prompt is empty (give at least one token)");
  if (n_prompt > max_ctx)
    fail("the prompt has ", n_prompt, " tokens, more than the model's context (max_position_embeddings = ", max_ctx, ")");
  if (opt.n_predict < 0) fail("-n must be >= 0");
  if (opt.delta && int64_t(opt.delta->size()) != d)
    fail("the given delta has ", opt.delta->size(), " values, the model's d_model is ", d);
  // The last generated token is never fed back, so the cache needs prompt + n_predict - 1 rows.
  const int64_t n_predict = std::min(opt.n_predict, max_ctx - n_prompt + 1);
  const std::vector<int32_t> stop = opt.stop_ids.empty() ? m.eos_ids() : opt.stop_ids;

  GenerateResult res;
  model::KvCache cache = m.new_cache(std::max<int64_t>(n_prompt, n_prompt + n_predict - 1));
  res.kv_bytes = cache.bytes();
  model::Workspace ws;
  std::vector<float> hidden(size_t(n_prompt * d));
  std::vector<float> logits(static_cast<size_t>(V));

  Timer t;
  m.forward(prompt, cache, ws, hidden.data());
  res.timings.prompt_ms = t.ms();
  res.timings.n_prompt = n_prompt;

  const float* delta = nullptr;  // null: the plain model, no addition at all (T = 0 bit-exact)
  if (opt.delta) {
    res.slot = slot::SlotResult{};
    res.slot->delta = *opt.delta;
    delta = res.slot->delta.data();
  } else if (opt.slot.steps > 0) {
    res.slot = slot::optimize(m, hidden.data(), prompt, opt.slot, on_slot_step);
    res.timings.slot_ms = res.slot->ms;
    delta = res.slot->delta.data();
  }

  std::vector<float> h(hidden.end() - d, hidden.end());  // [d_model] input of the LM head
  std::vector<int32_t> history(prompt.begin(), prompt.end());
  history.reserve(size_t(n_prompt + n_predict));
  Sampler sampler(opt.sampling);
  t.reset();
  for (int64_t i = 0; i < n_predict; ++i) {
    if (delta)
      for (int64_t j = 0; j < d; ++j) h[size_t(j)] += delta[j];
    m.lm_head(h.data(), 1, logits.data());
    const int32_t id = sampler.sample(logits.data(), V, history);
    if (std::find(stop.begin(), stop.end(), id) != stop.end()) {
      res.finish = FinishReason::kStop;
      break;
    }
    res.tokens.push_back(id);
    history.push_back(id);
    if (on_token && !on_token(id)) {
      res.finish = FinishReason::kCancelled;
      break;
    }
    if (i + 1 == n_predict) break;  // no need to run the last token through the model
    m.forward(std::span<const int32_t>(&id, 1), cache, ws, h.data());
  }
  res.timings.gen_ms = t.ms();
  res.timings.n_gen = int64_t(res.tokens.size());
  return res;
}

}  // namespace slotlm::gen
