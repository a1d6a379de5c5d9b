// SPDX-License-Identifier: MIT
// Prompt cache (generate layer): the KV rows and final hidden states of finished sequences, so a
// later prompt that starts with the same tokens (the next turn of a chat, a shared system prompt)
// prefills only the rest. Bounded in bytes, least recently used out first. Uses model/ only.
//
// Reuse changes numbers at the f32 rounding level, not more: a prefill's rows depend on how many
// rows its products had (oneDNN), and the rows of generated tokens came from the decode path. So
// the same request can give different tokens at a near-tie depending on what was cached before;
// the engine uses this cache for interactive serving and chat, not for evaluation.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <span>
#include <vector>

#include "model/kv_cache.h"

namespace slotlm::gen {

class PromptCache {
 public:
  // `budget_bytes` bounds what is kept (KV rows + hidden states); 0 keeps nothing.
  explicit PromptCache(size_t budget_bytes) : budget_(budget_bytes) {}

  // The longest cached prefix of `tokens`: copies its KV positions into `cache` (empty, room for
  // them) and its hidden rows into `hidden` ([>= n, d_model]); returns n (0: nothing usable).
  // Thread-safe.
  int64_t restore(std::span<const int32_t> tokens, model::KvCache& cache, float* hidden, int64_t d_model);

  // Keeps positions [0, n) of `cache` (tokens[0, n)) with their hidden rows `hidden` [n, d_model],
  // then drops the least recently used entries over the budget. An entry that another one
  // extends is dropped. Thread-safe.
  void store(std::span<const int32_t> tokens, const model::KvCache& cache, const float* hidden,
             int64_t n, int64_t d_model);

  size_t bytes() const;
  size_t n_entries() const;

 private:
  struct Entry {
    std::vector<int32_t> tokens;
    model::KvCache cache;
    std::vector<float> hidden;
    size_t bytes() const { return cache.bytes() + hidden.size() * sizeof(float) + tokens.size() * sizeof(int32_t); }
  };
  size_t budget_;
  size_t bytes_ = 0;
  mutable std::mutex mu_;
  std::list<Entry> entries_;  // most recently used first
};

}  // namespace slotlm::gen
