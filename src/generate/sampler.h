// SPDX-License-Identifier: MIT
// Next-token samplers (generate layer): repetition penalty, temperature, top-k, top-p, min-p,
// seeded RNG; greedy when temperature is 0. Kernels never sample; this is the only place.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

namespace slotlm::gen {

struct SamplerParams {
  double temperature = 0.0;     // 0 = greedy (argmax); otherwise logits / temperature
  int64_t top_k = 0;            // keep the k most likely tokens; 0 = off
  double top_p = 1.0;           // keep the smallest set with cumulative probability >= top_p; 1 = off
  double min_p = 0.0;           // drop tokens with p < min_p * p_max; 0 = off
  double repeat_penalty = 1.0;  // HF repetition_penalty on every id seen so far; 1 = off
  uint64_t seed = 0;            // RNG seed: same seed, same output
};

// Validates ranges; throws Error naming the flag (e.g. "--top-p must be in (0, 1]").
void validate(const SamplerParams& p);

class Sampler {
 public:
  explicit Sampler(const SamplerParams& p) : p_(p), rng_(p.seed) {}
  // Picks the next id from `logits` `[n_vocab]` (modified in place); `history` holds the prompt and
  // the tokens generated so far (for the repetition penalty). Order as HF's logits processors:
  // repetition penalty, temperature, top-k, top-p, min-p, then sample.
  //
  // Candidates are ranked by logit, descending, ties by id; top-k, top-p and min-p each keep a
  // prefix of that ranking, and the draw walks the kept prefix in rank order (the whole vocabulary
  // in id order when nothing is cut: the same distribution, no ranking needed). Only the part of
  // the ranking a call reaches is sorted: the vocabulary is taken in bands of logits 8 ln 2 wide
  // after the temperature (a factor 256 in probability each) from the top, and a band is sorted
  // piece by piece as it is reached, so a peaked distribution sorts a few dozen candidates, not
  // all 151936 (a full sort took ~13 ms per token).
  int32_t sample(float* logits, int64_t n_vocab, std::span<const int32_t> history);

 private:
  void apply_repeat_penalty(float* logits, int64_t n_vocab, std::span<const int32_t> history);
  // Appends the next band of the ranking to ranked_ (unsorted); false once every id is in.
  bool extend_ranking(const float* logits, int64_t n_vocab);
  // The draw when nothing is cut: over the vocabulary in id order (no ranking needed).
  int32_t draw_by_id(int64_t n_vocab);
  // How many candidates of the ranking top-k, top-p and min-p keep (ranking as far as they look).
  size_t kept_prefix(const float* logits, int64_t n_vocab);
  // sum_i e_[i] in double, vectorised.
  double sum_e(int64_t n_vocab) const;
  // Extends the ranking until its first n + 1 candidates are in order; false if it never will
  // (n >= n_vocab).
  bool ranked(const float* logits, int64_t n_vocab, size_t n);

  SamplerParams p_;
  std::mt19937_64 rng_;
  std::vector<float> e_;                            // [n_vocab] exp((logit - max) / T)
  std::vector<std::pair<float, int32_t>> ranked_;  // [n_vocab] the bands taken so far (logit, id)
  size_t n_ranked_ = 0;                             // how many of ranked_ are in them
  size_t sorted_ = 0;                               // ranked_[0, sorted_) is in rank order
  size_t band_first_ = 0;                           // where the last band starts in ranked_
  float band_top_ = 0;                              // logits below this are not ranked yet
  int band_ = 0;                                    // bands taken so far
  float max_logit_ = 0;
  std::vector<uint8_t> seen_;                       // per-call marks for the penalty, cleared after
};

}  // namespace slotlm::gen
