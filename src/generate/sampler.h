// SPDX-License-Identifier: MIT
// Next-token samplers (generate layer): repetition penalty, temperature, top-k, top-p, min-p,
// seeded RNG; greedy when temperature is 0. Kernels never sample; this is the only place.
#pragma once

#include <cstdint>
#include <random>
#include <span>
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
  int32_t sample(float* logits, int64_t n_vocab, std::span<const int32_t> history);

 private:
  SamplerParams p_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> cand_;  // reused candidate buffer
  std::vector<uint8_t> seen_;                    // reused per-call marks for the penalty
};

}  // namespace slotlm::gen
