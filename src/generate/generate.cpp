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

namespace {

bool same_slot_options(const slot::SlotOptions& a, const slot::SlotOptions& b) {
  return a.steps == b.steps && a.adam.lr == b.adam.lr && a.adam.beta1 == b.adam.beta1 &&
         a.adam.beta2 == b.adam.beta2 && a.adam.eps == b.adam.eps &&
         a.adam.weight_decay == b.adam.weight_decay && a.path == b.path && a.mem_budget == b.mem_budget;
}

// Per-sequence decode state.
struct Sequence {
  model::KvCache cache;
  std::vector<float> hidden;        // [n_prompt, d_model] prompt hidden states
  std::vector<int32_t> history;     // prompt + generated, for the repetition penalty
  std::vector<int32_t> stop;
  int64_t n_predict = 0;
  const float* delta = nullptr;     // null: plain model, nothing added (T = 0 is bit-exact)
  bool active = true;
};

}  // namespace

std::vector<GenerateResult> generate_batch(const model::Model& m, std::span<const BatchItem> items,
                                           const slot::StepCallback& on_slot_step) {
  const int64_t d = m.d_model(), V = m.n_vocab(), max_ctx = m.config().max_position_embeddings;
  const size_t B = items.size();
  std::vector<GenerateResult> res(B);
  std::vector<Sequence> seqs(B);
  std::vector<Sampler> samplers;
  samplers.reserve(B);
  // Validate everything before any work, so a bad item fails the batch at once.
  for (size_t i = 0; i < B; ++i) {
    const auto& it = items[i];
    validate(it.opt.sampling);
    const int64_t n_prompt = int64_t(it.prompt.size());
    if (n_prompt == 0) fail("the prompt is empty (give at least one token)");
    if (n_prompt > max_ctx)
      fail("the prompt has ", n_prompt, " tokens, more than the model's context (max_position_embeddings = ", max_ctx, ")");
    if (it.opt.n_predict < 0) fail("-n must be >= 0");
    if (it.opt.delta && int64_t(it.opt.delta->size()) != d)
      fail("the given delta has ", it.opt.delta->size(), " values, the model's d_model is ", d);
    if (!it.opt.delta && it.opt.slot.steps > 0) slot::validate(it.opt.slot);
    samplers.emplace_back(it.opt.sampling);
  }
  // Prefill, each sequence on its own (prompts differ in length).
  model::Workspace ws;
  for (size_t i = 0; i < B; ++i) {
    const auto& it = items[i];
    Sequence& s = seqs[i];
    const int64_t n_prompt = int64_t(it.prompt.size());
    // The last generated token is never fed back, so the cache needs prompt + n_predict - 1 rows.
    s.n_predict = std::min(it.opt.n_predict, max_ctx - n_prompt + 1);
    s.stop = it.opt.stop_ids.empty() ? m.eos_ids() : it.opt.stop_ids;
    s.cache = m.new_cache(std::max<int64_t>(n_prompt, n_prompt + s.n_predict - 1));
    res[i].kv_bytes = s.cache.bytes();
    s.hidden.resize(size_t(n_prompt * d));
    Timer t;
    m.forward(it.prompt, s.cache, ws, s.hidden.data());
    res[i].timings.prompt_ms = t.ms();
    res[i].timings.n_prompt = n_prompt;
    s.history.assign(it.prompt.begin(), it.prompt.end());
    s.history.reserve(size_t(n_prompt + s.n_predict));
    res[i].tokens.reserve(size_t(s.n_predict));  // the decode loop allocates nothing
    if (it.opt.delta) {
      res[i].slot = slot::SlotResult{};
      res[i].slot->delta = *it.opt.delta;
    }
  }
  // SLOT: sequences that asked for it, together when their options agree.
  std::vector<size_t> want;
  for (size_t i = 0; i < B; ++i)
    if (!items[i].opt.delta && items[i].opt.slot.steps > 0) want.push_back(i);
  auto run_slot = [&](const std::vector<size_t>& group) {
    std::vector<slot::PromptRef> refs;
    for (size_t i : group) refs.push_back({seqs[i].hidden.data(), items[i].prompt});
    auto step_cb = [&](size_t k, int step, double loss) {
      if (on_slot_step) on_slot_step(group[k], step, loss);
    };
    auto out = slot::optimize_batch(m, refs, items[group[0]].opt.slot, step_cb);
    for (size_t k = 0; k < group.size(); ++k) {
      res[group[k]].slot = std::move(out[k]);
      res[group[k]].timings.slot_ms = res[group[k]].slot->ms;
    }
  };
  bool all_same = true;
  for (size_t i : want) all_same = all_same && same_slot_options(items[i].opt.slot, items[want[0]].opt.slot);
  if (!want.empty() && all_same) {
    run_slot(want);
  } else {
    for (size_t i : want) run_slot({i});
  }
  for (size_t i = 0; i < B; ++i)
    if (res[i].slot) seqs[i].delta = res[i].slot->delta.data();

  // Decode in lock step. `h` holds each active sequence's LM-head input.
  std::vector<size_t> active;
  for (size_t i = 0; i < B; ++i)
    if (seqs[i].n_predict > 0) active.push_back(i);
  std::vector<float> h(B * size_t(d)), logits(B * size_t(V));
  for (size_t k = 0; k < active.size(); ++k) {
    const auto& hs = seqs[active[k]].hidden;
    std::copy(hs.end() - d, hs.end(), h.begin() + long(k) * d);
  }
  std::vector<int32_t> next;
  std::vector<model::KvCache*> caches;
  std::vector<size_t> still;  // reused: nothing is allocated per token once the buffers have grown
  still.reserve(B);
  std::vector<int32_t> picked;
  picked.reserve(B);
  Timer t;
  while (!active.empty()) {
    const int64_t n = int64_t(active.size());
    for (int64_t k = 0; k < n; ++k)
      if (const float* delta = seqs[active[size_t(k)]].delta)
        for (int64_t j = 0; j < d; ++j) h[size_t(k * d + j)] += delta[j];
    m.lm_head(h.data(), n, logits.data());
    // Each sequence's sampler reads only its own logits row and history: they run in parallel,
    // then stops and callbacks go in order.
    picked.resize(size_t(n));
#pragma omp parallel for schedule(static) if (n > 1)
    for (int64_t k = 0; k < n; ++k) {
      const size_t i = active[size_t(k)];
      picked[size_t(k)] = samplers[i].sample(logits.data() + k * V, V, seqs[i].history);
    }
    still.clear();
    next.clear();
    caches.clear();
    for (int64_t k = 0; k < n; ++k) {
      const size_t i = active[size_t(k)];
      Sequence& s = seqs[i];
      GenerateResult& r = res[i];
      const int32_t id = picked[size_t(k)];
      if (std::find(s.stop.begin(), s.stop.end(), id) != s.stop.end()) {
        r.finish = FinishReason::kStop;
        continue;
      }
      r.tokens.push_back(id);
      s.history.push_back(id);
      if (items[i].on_token && !items[i].on_token(id)) {
        r.finish = FinishReason::kCancelled;
        continue;
      }
      if (int64_t(r.tokens.size()) == s.n_predict) continue;  // kLength; the last token is not fed back
      still.push_back(i);
      next.push_back(id);
      caches.push_back(&s.cache);
    }
    active.swap(still);
    if (active.empty()) break;
    if (active.size() == 1) {
      m.forward(next, *caches[0], ws, h.data());
    } else {
      m.forward_batch(next, caches, ws, h.data());
    }
  }
  const double gen_ms = t.ms();
  for (auto& r : res) {
    r.timings.gen_ms = gen_ms;
    r.timings.n_gen = int64_t(r.tokens.size());
  }
  return res;
}

GenerateResult generate(const model::Model& m, std::span<const int32_t> prompt,
                        const GenerateOptions& opt, const TokenCallback& on_token,
                        const slot::StepCallback& on_slot_step) {
  const BatchItem item{prompt, opt, on_token};
  return std::move(generate_batch(m, std::span<const BatchItem>(&item, 1), on_slot_step)[0]);
}

}  // namespace slotlm::gen
