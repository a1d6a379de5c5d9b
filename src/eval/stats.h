// SPDX-License-Identifier: MIT
// Statistics for benchmark tables (eval layer): Wilson score intervals for an accuracy and McNemar's
// exact test for paired correct/incorrect outcomes. Pure functions; no engine dependencies.
#pragma once

#include <cstdint>
#include <vector>

namespace slotlm::eval {

// z of a two-sided 95% normal interval (the 0.975 quantile of N(0, 1)).
inline constexpr double kZ95 = 1.959963984540054;

struct Interval {
  double lo = 0, hi = 0;  // bounds of the proportion, in [0, 1]
};

// Wilson score interval of `k` successes in `n` trials (Wilson 1927); {0, 1} when n = 0.
Interval wilson_interval(int64_t k, int64_t n, double z = kZ95);

// Paired outcomes of two systems A (baseline) and B on the same samples.
struct McNemar {
  int64_t fixed = 0;    // A wrong, B right
  int64_t broken = 0;   // A right, B wrong
  int64_t both = 0;     // both right
  int64_t neither = 0;  // both wrong
  double p_value = 1;   // exact two-sided binomial test on the discordant pairs (fixed vs broken)
  int64_t n() const { return fixed + broken + both + neither; }
  // Accuracy of B minus accuracy of A, as a fraction (0 when n = 0).
  double difference() const { return n() ? double(fixed - broken) / double(n()) : 0.0; }
};

// Counts the pairs of `a[i]`, `b[i]` (same length) and computes the exact p-value:
// p = min(1, 2 * P[X <= min(fixed, broken)]), X ~ Binomial(fixed + broken, 1/2).
McNemar mcnemar(const std::vector<bool>& a, const std::vector<bool>& b);
// The same from the two discordant counts alone.
double mcnemar_exact_p(int64_t fixed, int64_t broken);

}  // namespace slotlm::eval
