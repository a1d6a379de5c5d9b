// SPDX-License-Identifier: MIT
#include "generate/decoder.h"

#include <algorithm>
#include <cmath>

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
  int64_t prefilled = 0;           // prompt positions in the cache (restored or prefilled)
  bool wants_slot = false;         // SLOT runs once the prompt is prefilled
  std::unique_ptr<slot::IncrementalSlot> inc_slot;  // its SLOT's rows computed chunk by chunk
  slot::SlotOptions slot_opt;
  slot::StepCallback on_slot_step;  // with the item's index in its add() call
  std::vector<float> h;            // [d_model] the next LM-head input, before the delta
  std::vector<int32_t> history;    // prompt + generated, for the repetition penalty
  std::vector<int32_t> stop;
  int64_t n_predict = 0;
  Sampler sampler;
  TokenCallback on_token;
  std::function<bool()> cancelled;  // BatchItem::cancelled, polled while queued for its prefill
  const float* delta = nullptr;    // into result.slot; null: plain model (T = 0 is bit-exact)
  GenerateResult result;
  Timer since_join;
};

namespace {
// Multiply-adds of the LM head per prompt row over those of the layers (SLOT's cached rows are a
// product of the prompt's hidden rows with the LM head): 0.38 for Qwen2.5-0.5B, 0.18 for 1.5B.
double lm_head_row_cost(const model::ModelConfig& c) {
  const double d = double(c.hidden_size), q = double(c.num_attention_heads * c.head_dim);
  const double kv = double(c.num_key_value_heads * c.head_dim), ff = double(c.intermediate_size);
  const double layer = d * (q + 2 * kv) + q * d + 3 * d * ff;
  return double(c.vocab_size) * d / std::max(1.0, double(c.num_hidden_layers) * layer);
}
}  // namespace

Decoder::Decoder(const model::Model& m, PromptCache* cache)
    : m_(m), prompt_cache_(cache), slot_row_cost_(lm_head_row_cost(m.config())) {}
Decoder::~Decoder() = default;

void Decoder::set_prefill_chunk(int64_t n) {
  if (n < 0) fail("the prefill chunk must be >= 0 tokens (0 = whole prompts)");
  prefill_chunk_ = n;
}

void Decoder::set_mixed_steps(bool on) { mixed_ = on; }

std::unique_ptr<Decoder::Seq> Decoder::make_seq(const BatchItem& it, int64_t index,
                                                const slot::StepCallback& on_slot_step) {
  const int64_t d = m_.d_model(), max_ctx = m_.config().max_position_embeddings;
  auto s = std::make_unique<Seq>(it.opt.sampling);
  GenerateResult& r = s->result;
  const int64_t n_prompt = int64_t(it.prompt.size());
  // The last generated token is never fed back, so the cache needs prompt + n_predict - 1 rows.
  s->n_predict = std::min(it.opt.n_predict, max_ctx - n_prompt + 1);
  s->stop = it.opt.stop_ids.empty() ? m_.eos_ids() : it.opt.stop_ids;
  s->on_token = it.on_token;
  s->cancelled = it.cancelled;
  s->cache = m_.new_cache(std::max<int64_t>(n_prompt, n_prompt + s->n_predict - 1));
  r.kv_bytes = s->cache.bytes();
  s->keep_rows = prompt_cache_ && it.opt.cache_prompt;
  if (s->keep_rows) s->hidden.reserve(size_t((n_prompt + s->n_predict) * d));  // no allocation per token
  s->hidden.resize(size_t(n_prompt * d));
  s->history.reserve(size_t(n_prompt + s->n_predict));
  s->history.assign(it.prompt.begin(), it.prompt.end());
  r.tokens.reserve(size_t(s->n_predict));  // the decode loop allocates nothing
  r.timings.n_prompt = n_prompt;
  Timer t;
  s->prefilled = s->keep_rows ? prompt_cache_->restore(it.prompt, s->cache, s->hidden.data(), d) : 0;
  r.timings.prompt_ms = t.ms();
  r.timings.n_cached = s->prefilled;
  if (it.opt.delta) {
    r.slot = slot::SlotResult{};
    r.slot->delta = *it.opt.delta;
  }
  s->wants_slot = !it.opt.delta && it.opt.slot.steps > 0;
  s->slot_opt = it.opt.slot;
  if (on_slot_step) {
    s->on_slot_step = [on_slot_step, index](size_t, int step, double loss) { on_slot_step(size_t(index), step, loss); };
  }
  return s;
}

void Decoder::prefill(Seq& s, int64_t max_tokens) {
  const int64_t d = m_.d_model(), n_prompt = s.result.timings.n_prompt;
  const int64_t n = std::min(max_tokens, n_prompt - s.prefilled);
  if (n <= 0) return;
  Timer t;
  m_.forward(std::span<const int32_t>(s.history).subspan(size_t(s.prefilled), size_t(n)), s.cache, ws_,
             s.hidden.data() + s.prefilled * d);
  s.prefilled += n;
  s.result.timings.prompt_ms += t.ms();
}

void Decoder::run_slot(std::span<Seq* const> group) {
  std::vector<slot::PromptRef> refs;
  for (Seq* s : group) refs.push_back({s->hidden.data(), s->history});
  auto step_cb = [&](size_t k, int step, double loss) {
    if (group[k]->on_slot_step) group[k]->on_slot_step(k, step, loss);
  };
  auto out = slot::optimize_batch(m_, refs, group[0]->slot_opt, step_cb);
  for (size_t k = 0; k < group.size(); ++k) {
    GenerateResult& r = group[k]->result;
    r.slot = std::move(out[k]);
    r.timings.slot_ms = r.slot->ms;
    r.slot_batch = int(group.size());
  }
}

void Decoder::finish_incremental_slot(Seq& s) {
  GenerateResult& r = s.result;
  r.slot = s.inc_slot->optimize([&s](size_t, int step, double loss) {
    if (s.on_slot_step) s.on_slot_step(0, step, loss);
  });
  s.inc_slot.reset();
  r.timings.slot_ms = r.slot->ms;
  r.slot_batch = 1;
}

void Decoder::join(std::unique_ptr<Seq> s) {
  const int64_t d = m_.d_model();
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

std::vector<int64_t> Decoder::add(std::span<const BatchItem> items, const slot::StepCallback& on_slot_step) {
  const int64_t d = m_.d_model(), max_ctx = m_.config().max_position_embeddings;
  for (const BatchItem& it : items) check_item(it, d, max_ctx);
  std::vector<std::unique_ptr<Seq>> seqs;
  for (size_t i = 0; i < items.size(); ++i) seqs.push_back(make_seq(items[i], int64_t(i), on_slot_step));
  if (prefill_chunk_ == 0) {
    // Prefill now, each sequence on its own (prompts differ in length); then SLOT for those that
    // ask for it, together when their options agree.
    for (auto& s : seqs) prefill(*s, s->result.timings.n_prompt);
    std::vector<Seq*> want;
    for (auto& s : seqs)
      if (s->wants_slot) want.push_back(s.get());
    bool all_same = true;
    for (Seq* s : want) all_same = all_same && same_slot_options(s->slot_opt, want[0]->slot_opt);
    if (!want.empty() && all_same) {
      run_slot(want);
    } else {
      for (Seq* s : want) run_slot(std::span<Seq* const>(&s, 1));
    }
  }
  // From here on nothing throws that could leave a sequence half added.
  std::vector<int64_t> ids;
  for (auto& s : seqs) {
    s->id = next_id_++;
    ids.push_back(s->id);
    if (prefill_chunk_ > 0) {
      pending_.push_back(std::move(s));
    } else {
      join(std::move(s));
    }
  }
  reserve_for_active();
  return ids;
}

void Decoder::advance_prefill() {
  prefill(*pending_.front(), prefill_chunk_);
  join_prefilled();
}

void Decoder::drop_cancelled() {
  for (auto it = pending_.begin(); it != pending_.end();) {
    Seq& s = **it;
    if (!s.cancelled || !s.cancelled()) {
      ++it;
      continue;
    }
    s.result.finish = FinishReason::kCancelled;
    s.since_join.reset();  // it never decoded: gen_ms 0
    // The rows prefilled so far go to the prompt cache (a retry of the request starts from them).
    s.keep_rows = s.keep_rows && s.prefilled > 0;
    retire(s);
    it = pending_.erase(it);
  }
}

void Decoder::join_prefilled() {
  drop_cancelled();  // one gone during its last chunk runs no SLOT
  for (auto it = pending_.begin(); it != pending_.end();) {
    if ((*it)->prefilled < (*it)->result.timings.n_prompt) {
      ++it;
      continue;
    }
    std::unique_ptr<Seq> ready = std::move(*it);
    it = pending_.erase(it);
    if (ready->inc_slot) {
      finish_incremental_slot(*ready);
    } else if (ready->wants_slot) {
      Seq* one = ready.get();
      run_slot(std::span<Seq* const>(&one, 1));
    }
    join(std::move(ready));
  }
  reserve_for_active();
}

void Decoder::reserve_for_active() {
  const size_t n = active_.size(), d = size_t(m_.d_model()), V = size_t(m_.n_vocab());
  if (h_.size() < n * d) h_.resize(n * d);
  if (logits_.size() < n * V) logits_.resize(n * V);
  still_.reserve(n);
  picked_.reserve(n);
  next_.reserve(n);
  caches_.reserve(n);
  if (prefill_chunk_ > 0) {  // a step that also prefills chunks (forward_chunks)
    const size_t rows = n + size_t(prefill_chunk_), queued = pending_.size();
    if (mixed_h_.size() < rows * d) mixed_h_.resize(rows * d);
    mixed_tokens_.reserve(rows);
    segs_.reserve(n + queued);
    plan_.reserve(queued);
  }
  finished_.reserve(finished_.size() + n);
}

void Decoder::step() {
  join_prefilled();  // drops the cancelled; those the prompt cache restored whole need no forward
  // With sequences decoding, the queued prompts' chunks ride along in their forward (one pass over
  // the weights for all); with none, the chunks run first and the prompts they finish decode in
  // this step.
  const bool ride = mixed_ && !pending_.empty() && !active_.empty();
  if (!pending_.empty() && !ride) {
    if (mixed_) {
      forward_chunks(0);
    } else {
      advance_prefill();
    }
  }
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
  if (ride) {
    forward_chunks(m);
    return;
  }
  if (m == 0) return;
  if (m == 1) {
    m_.forward(next_, *caches_[0], ws_, h_.data());
  } else {
    m_.forward_batch(next_, caches_, ws_, h_.data());
  }
  take_rows(h_.data(), m);
}

void Decoder::take_rows(const float* rows, int64_t m) {
  const int64_t d = m_.d_model();
  for (int64_t k = 0; k < m; ++k) {
    const float* h = rows + k * d;
    Seq& s = *active_[size_t(k)];
    std::copy(h, h + d, s.h.begin());
    if (s.keep_rows) s.hidden.insert(s.hidden.end(), h, h + d);  // reserved in add()
  }
}

void Decoder::forward_chunks(int64_t m) {
  const int64_t d = m_.d_model();
  // The decode rows take the place of as many prompt tokens (half the chunk at most), so a step
  // costs about what a chunk alone does (0.5B, 4 streams: 4 + 252 rows 575 ms, 256 rows 579 ms,
  // 260 rows ~590 ms, the 4 rows alone 19 ms): the streams' time per token stays bounded by it.
  int64_t budget = std::max(prefill_chunk_ - m, (prefill_chunk_ + 1) / 2);
  // The queued prompts with the fewest tokens left go first, several per step when they fit, so a
  // short prompt queued behind a long one waits one step, not the long one's whole prefill.
  plan_.clear();
  for (const auto& p : pending_) plan_.push_back({p.get(), 0});
  std::stable_sort(plan_.begin(), plan_.end(), [](const Chunk& a, const Chunk& b) {
    return a.seq->result.timings.n_prompt - a.seq->prefilled < b.seq->result.timings.n_prompt - b.seq->prefilled;
  });
  // One queued prompt at a time computes its SLOT's cached rows with its chunks (IncrementalSlot),
  // so its SLOT does not stall the streams for a whole [prompt, vocab] product at the end; its
  // rows count 1 + slot_row_cost_ against the budget.
  bool inc_taken = false;
  for (const Chunk& c : plan_) inc_taken = inc_taken || c.seq->inc_slot != nullptr;
  mixed_tokens_.assign(next_.begin(), next_.begin() + m);
  segs_.clear();
  for (int64_t k = 0; k < m; ++k) segs_.push_back({caches_[size_t(k)], 1});
  for (Chunk& c : plan_) {
    if (budget == 0) break;
    Seq& p = *c.seq;
    if (!inc_taken && p.wants_slot && p.slot_opt.path == slot::Path::kFast) {
      p.inc_slot = std::make_unique<slot::IncrementalSlot>(m_, p.hidden.data(), p.history, p.slot_opt);
      p.inc_slot->rows_ready(p.prefilled);  // rows the prompt cache restored
      inc_taken = true;
    }
    const double cost = p.inc_slot ? 1.0 + slot_row_cost_ : 1.0;
    c.n = std::min(std::max<int64_t>(1, int64_t(double(budget) / cost)), p.result.timings.n_prompt - p.prefilled);
    budget = std::max<int64_t>(0, budget - int64_t(std::ceil(double(c.n) * cost)));
    mixed_tokens_.insert(mixed_tokens_.end(), p.history.begin() + p.prefilled, p.history.begin() + p.prefilled + c.n);
    segs_.push_back({&p.cache, c.n});
  }
  const int64_t rows = int64_t(mixed_tokens_.size());
  if (mixed_h_.size() < size_t(rows * d)) mixed_h_.resize(size_t(rows * d));
  Timer t;
  m_.forward_segments(mixed_tokens_, segs_, ws_, mixed_h_.data());
  const double ms = t.ms();
  take_rows(mixed_h_.data(), m);
  const float* h = mixed_h_.data() + m * d;
  for (const Chunk& c : plan_) {
    if (c.n == 0) continue;
    Seq& p = *c.seq;
    std::copy_n(h, c.n * d, p.hidden.data() + p.prefilled * d);
    h += c.n * d;
    p.prefilled += c.n;
    p.result.timings.prompt_ms += ms;
    if (p.inc_slot) p.inc_slot->rows_ready(p.prefilled);
  }
  join_prefilled();
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
