// SPDX-License-Identifier: MIT
#include "generate/decoder.h"

#include <algorithm>

#include "core/error.h"
#include "core/timer.h"

namespace slotlm::gen {

namespace {

bool same_slot_options(const slot::SlotOptions& a, const slot::SlotOptions& b) {
  return a.steps == b.steps && a.adam.lr == b.adam.lr && a.adam.beta1 == b.adam.beta1 &&
         a.adam.beta2 == b.adam.beta2 && a.adam.eps == b.adam.eps &&
         a.adam.weight_decay == b.adam.weight_decay && a.path == b.path && a.mem_budget == b.mem_budget;
}

// Refuses an item that cannot run, naming what is wrong, before any work is done.
void check_item(const BatchItem& it, int64_t d, int64_t max_ctx) {
  validate(it.opt.sampling);
  const int64_t n_prompt = int64_t(it.prompt.size());
  if (n_prompt == 0) fail("the prompt is empty (give at least one token)");
  if (n_prompt > max_ctx)
    fail("the prompt has ", n_prompt, " tokens, more than the model's context (max_position_embeddings = ", max_ctx, ")");
  if (it.opt.n_predict < 0) fail("-n must be >= 0");
  if (it.opt.delta && int64_t(it.opt.delta->size()) != d)
    fail("the given delta has ", it.opt.delta->size(), " values, the model's d_model is ", d);
  if (!it.opt.delta && it.opt.slot.steps > 0) slot::validate(it.opt.slot);
}

}  // namespace

// One sequence's decode state.
struct Decoder::Seq {
  explicit Seq(const SamplerParams& p) : sampler(p) {}
  int64_t id = 0;
  model::KvCache cache;
  std::vector<float> hidden;       // [n_prompt, d_model] the prompt's hidden states, until it joins;
                                   // with keep_rows, then one row per token fed back
  bool keep_rows = false;          // its rows go to the prompt cache when it finishes
  std::vector<float> h;            // [d_model] the next LM-head input, before the delta
  std::vector<int32_t> history;    // prompt + generated, for the repetition penalty
  std::vector<int32_t> stop;
  int64_t n_predict = 0;
  Sampler sampler;
  TokenCallback on_token;
  const float* delta = nullptr;    // into result.slot; null: plain model (T = 0 is bit-exact)
  GenerateResult result;
  Timer since_join;
};

Decoder::Decoder(const model::Model& m, PromptCache* cache) : m_(m), prompt_cache_(cache) {}
Decoder::~Decoder() = default;

std::vector<int64_t> Decoder::add(std::span<const BatchItem> items, const slot::StepCallback& on_slot_step) {
  const int64_t d = m_.d_model(), max_ctx = m_.config().max_position_embeddings;
  for (const BatchItem& it : items) check_item(it, d, max_ctx);
  // Prefill, each sequence on its own (prompts differ in length).
  std::vector<std::unique_ptr<Seq>> seqs;
  for (const BatchItem& it : items) {
    auto s = std::make_unique<Seq>(it.opt.sampling);
    GenerateResult& r = s->result;
    const int64_t n_prompt = int64_t(it.prompt.size());
    // The last generated token is never fed back, so the cache needs prompt + n_predict - 1 rows.
    s->n_predict = std::min(it.opt.n_predict, max_ctx - n_prompt + 1);
    s->stop = it.opt.stop_ids.empty() ? m_.eos_ids() : it.opt.stop_ids;
    s->on_token = it.on_token;
    s->cache = m_.new_cache(std::max<int64_t>(n_prompt, n_prompt + s->n_predict - 1));
    r.kv_bytes = s->cache.bytes();
    s->keep_rows = prompt_cache_ && it.opt.cache_prompt;
    if (s->keep_rows) s->hidden.reserve(size_t((n_prompt + s->n_predict) * d));  // no allocation per token
    s->hidden.resize(size_t(n_prompt * d));
    Timer t;
    const int64_t cached = s->keep_rows ? prompt_cache_->restore(it.prompt, s->cache, s->hidden.data(), d) : 0;
    if (cached < n_prompt) m_.forward(it.prompt.subspan(size_t(cached)), s->cache, ws_, s->hidden.data() + cached * d);
    r.timings.prompt_ms = t.ms();
    r.timings.n_prompt = n_prompt;
    r.timings.n_cached = cached;
    s->history.assign(it.prompt.begin(), it.prompt.end());
    s->history.reserve(size_t(n_prompt + s->n_predict));
    r.tokens.reserve(size_t(s->n_predict));  // the decode loop allocates nothing
    if (it.opt.delta) {
      r.slot = slot::SlotResult{};
      r.slot->delta = *it.opt.delta;
    }
    seqs.push_back(std::move(s));
  }
  // SLOT: the sequences that ask for it, together when their options agree.
  std::vector<size_t> want;
  for (size_t i = 0; i < items.size(); ++i)
    if (!items[i].opt.delta && items[i].opt.slot.steps > 0) want.push_back(i);
  auto run_slot = [&](const std::vector<size_t>& group) {
    std::vector<slot::PromptRef> refs;
    for (size_t i : group) refs.push_back({seqs[i]->hidden.data(), items[i].prompt});
    auto step_cb = [&](size_t k, int step, double loss) {
      if (on_slot_step) on_slot_step(group[k], step, loss);
    };
    auto out = slot::optimize_batch(m_, refs, items[group[0]].opt.slot, step_cb);
    for (size_t k = 0; k < group.size(); ++k) {
      GenerateResult& r = seqs[group[k]]->result;
      r.slot = std::move(out[k]);
      r.timings.slot_ms = r.slot->ms;
      r.slot_batch = int(group.size());
    }
  };
  bool all_same = true;
  for (size_t i : want) all_same = all_same && same_slot_options(items[i].opt.slot, items[want[0]].opt.slot);
  if (!want.empty() && all_same) {
    run_slot(want);
  } else {
    for (size_t i : want) run_slot({i});
  }
  // Join: from here on nothing throws that could leave a sequence half added.
  std::vector<int64_t> ids;
  for (auto& s : seqs) {
    s->id = next_id_++;
    ids.push_back(s->id);
    if (s->result.slot) s->delta = s->result.slot->delta.data();
    s->h.assign(s->hidden.end() - d, s->hidden.end());
    if (!s->keep_rows) std::vector<float>().swap(s->hidden);
    s->since_join.reset();
    if (s->n_predict > 0) {
      active_.push_back(std::move(s));
    } else {
      retire(*s);
    }
  }
  reserve_for_active();
  return ids;
}

void Decoder::reserve_for_active() {
  const size_t n = active_.size(), d = size_t(m_.d_model()), V = size_t(m_.n_vocab());
  if (h_.size() < n * d) h_.resize(n * d);
  if (logits_.size() < n * V) logits_.resize(n * V);
  still_.reserve(n);
  picked_.reserve(n);
  next_.reserve(n);
  caches_.reserve(n);
  finished_.reserve(finished_.size() + n);
}

void Decoder::step() {
  const int64_t n = int64_t(active_.size()), d = m_.d_model(), V = m_.n_vocab();
  if (n == 0) return;
  for (int64_t k = 0; k < n; ++k) {
    const Seq& s = *active_[size_t(k)];
    float* h = h_.data() + k * d;
    std::copy(s.h.begin(), s.h.end(), h);
    if (s.delta)
      for (int64_t j = 0; j < d; ++j) h[j] += s.delta[j];
  }
  m_.lm_head(h_.data(), n, logits_.data());
  // Each sequence's sampler reads only its own logits row and history: they run in parallel,
  // then stops and callbacks go in order.
  picked_.resize(size_t(n));
#pragma omp parallel for schedule(static) if (n > 1)
  for (int64_t k = 0; k < n; ++k) {
    Seq& s = *active_[size_t(k)];
    picked_[size_t(k)] = s.sampler.sample(logits_.data() + k * V, V, s.history);
  }
  still_.clear();
  next_.clear();
  caches_.clear();
  for (int64_t k = 0; k < n; ++k) {
    std::unique_ptr<Seq>& sp = active_[size_t(k)];
    Seq& s = *sp;
    GenerateResult& r = s.result;
    const int32_t id = picked_[size_t(k)];
    bool goes_on = false;
    if (std::find(s.stop.begin(), s.stop.end(), id) != s.stop.end()) {
      r.finish = FinishReason::kStop;
    } else {
      r.tokens.push_back(id);
      s.history.push_back(id);
      if (s.on_token && !s.on_token(id)) {
        r.finish = FinishReason::kCancelled;
      } else {
        goes_on = int64_t(r.tokens.size()) < s.n_predict;  // else kLength; the last token is not fed back
      }
    }
    if (goes_on) {
      next_.push_back(id);
      caches_.push_back(&s.cache);
      still_.push_back(std::move(sp));
      continue;
    }
    retire(s);
    sp.reset();  // its KV cache goes back now
  }
  active_.swap(still_);
  const int64_t m = int64_t(active_.size());
  if (m == 0) return;
  if (m == 1) {
    m_.forward(next_, *caches_[0], ws_, h_.data());
  } else {
    m_.forward_batch(next_, caches_, ws_, h_.data());
  }
  for (int64_t k = 0; k < m; ++k) {
    const float* h = h_.data() + k * d;
    Seq& s = *active_[size_t(k)];
    std::copy(h, h + d, s.h.begin());
    if (s.keep_rows) s.hidden.insert(s.hidden.end(), h, h + d);  // reserved in add()
  }
}

void Decoder::retire(Seq& s) {
  GenerateResult& r = s.result;
  r.timings.gen_ms = s.since_join.ms();
  r.timings.n_gen = int64_t(r.tokens.size());
  // The cache holds the prompt and the tokens fed back (not the last one picked), one hidden row
  // each.
  if (s.keep_rows) prompt_cache_->store(s.history, s.cache, s.hidden.data(), s.cache.n_past(), m_.d_model());
  finished_.push_back({s.id, std::move(r)});
}

std::vector<Finished> Decoder::take_finished() {
  std::vector<Finished> out;
  if (finished_.empty()) return out;  // the steps where nobody finishes allocate nothing
  out.swap(finished_);
  finished_.reserve(active_.size());
  return out;
}

}  // namespace slotlm::gen
