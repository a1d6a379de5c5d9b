// SPDX-License-Identifier: MIT
#include "generate/prompt_cache.h"

#include <algorithm>

namespace slotlm::gen {

namespace {

// How many leading tokens `a` and `b` share.
int64_t common_prefix(std::span<const int32_t> a, std::span<const int32_t> b) {
  const size_t n = std::min(a.size(), b.size());
  return int64_t(std::mismatch(a.begin(), a.begin() + long(n), b.begin()).first - a.begin());
}

}  // namespace

int64_t PromptCache::restore(std::span<const int32_t> tokens, model::KvCache& cache, float* hidden, int64_t d_model) {
  std::lock_guard<std::mutex> lock(mu_);
  auto best = entries_.end();
  int64_t best_n = 0;
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    const int64_t n = std::min(common_prefix(tokens, it->tokens), cache.n_ctx());
    if (n > best_n) {
      best_n = n;
      best = it;
    }
  }
  if (best_n == 0) return 0;
  cache.copy_prefix(best->cache, best_n);
  std::copy(best->hidden.begin(), best->hidden.begin() + best_n * d_model, hidden);
  entries_.splice(entries_.begin(), entries_, best);  // most recently used
  return best_n;
}

void PromptCache::store(std::span<const int32_t> tokens, const model::KvCache& cache, const float* hidden,
                        int64_t n, int64_t d_model) {
  if (n <= 0 || budget_ == 0) return;
  const std::span<const int32_t> kept = tokens.first(size_t(n));
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    const int64_t common = common_prefix(kept, it->tokens);
    if (common == int64_t(it->tokens.size())) {  // this one extends the entry: the entry goes
      bytes_ -= it->bytes();
      it = entries_.erase(it);
    } else if (common == n) {  // the entry already holds all of this one
      entries_.splice(entries_.begin(), entries_, it);
      return;
    } else {
      ++it;
    }
  }
  Entry e{std::vector<int32_t>(kept.begin(), kept.end()), cache.prefix(n),
          std::vector<float>(hidden, hidden + n * d_model)};
  if (e.bytes() > budget_) return;
  bytes_ += e.bytes();
  entries_.push_front(std::move(e));
  while (bytes_ > budget_) {
    bytes_ -= entries_.back().bytes();
    entries_.pop_back();
  }
}

size_t PromptCache::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

size_t PromptCache::n_entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace slotlm::gen
