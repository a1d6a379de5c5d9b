// SPDX-License-Identifier: MIT
#include "generate/sampler.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "kernels/ops.h"

namespace slotlm::gen {

void validate(const SamplerParams& p) {
  if (!(p.temperature >= 0) || !std::isfinite(p.temperature)) fail("--temp must be a finite number >= 0");
  if (p.top_k < 0) fail("--top-k must be >= 0");
  if (!(p.top_p > 0 && p.top_p <= 1)) fail("--top-p must be in (0, 1]");
  if (!(p.min_p >= 0 && p.min_p <= 1)) fail("--min-p must be in [0, 1]");
  if (!(p.repeat_penalty > 0) || !std::isfinite(p.repeat_penalty)) fail("--repeat-penalty must be a finite number > 0");
}

int32_t Sampler::sample(float* logits, int64_t n_vocab, std::span<const int32_t> history) {
  if (p_.repeat_penalty != 1.0) {
    // HF RepetitionPenaltyLogitsProcessor: each distinct seen id once; divide positive logits,
    // multiply negative ones.
    seen_.assign(size_t(n_vocab), 0);
    for (int32_t id : history) {
      if (id < 0 || id >= n_vocab || seen_[size_t(id)]) continue;
      seen_[size_t(id)] = 1;
      float& l = logits[id];
      l = l > 0 ? float(l / p_.repeat_penalty) : float(l * p_.repeat_penalty);
    }
  }
  if (p_.temperature == 0.0) return int32_t(kernels::argmax(logits, n_vocab));
  cand_.clear();
  cand_.reserve(size_t(n_vocab));
  for (int64_t i = 0; i < n_vocab; ++i) cand_.emplace_back(float(logits[i] / p_.temperature), int32_t(i));
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  size_t keep = cand_.size();
  if (p_.top_k > 0 && size_t(p_.top_k) < keep) {
    keep = size_t(p_.top_k);
    std::partial_sort(cand_.begin(), cand_.begin() + long(keep), cand_.end(), by_logit);
  } else {
    std::sort(cand_.begin(), cand_.end(), by_logit);
  }
  cand_.resize(keep);
  // Softmax over the kept candidates (sorted descending).
  const float mx = cand_[0].first;
  double sum = 0;
  for (auto& c : cand_) {
    c.first = std::exp(c.first - mx);
    sum += c.first;
  }
  for (auto& c : cand_) c.first = float(c.first / sum);
  if (p_.top_p < 1.0) {
    double cum = 0;
    size_t n = 0;
    while (n < cand_.size()) {
      cum += cand_[n++].first;
      if (cum >= p_.top_p) break;
    }
    cand_.resize(std::max<size_t>(n, 1));
  }
  if (p_.min_p > 0.0) {
    const float cut = float(p_.min_p) * cand_[0].first;
    size_t n = 1;
    while (n < cand_.size() && cand_[n].first >= cut) ++n;
    cand_.resize(n);
  }
  double total = 0;
  for (const auto& c : cand_) total += c.first;
  std::uniform_real_distribution<double> uni(0.0, total);
  double x = uni(rng_), cum = 0;
  for (const auto& c : cand_) {
    cum += c.first;
    if (x < cum) return c.second;
  }
  return cand_.back().second;
}

}  // namespace slotlm::gen
