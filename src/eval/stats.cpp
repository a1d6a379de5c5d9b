// SPDX-License-Identifier: MIT
#include "eval/stats.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace slotlm::eval {

Interval wilson_interval(int64_t k, int64_t n, double z) {
  if (n <= 0) return {0.0, 1.0};
  const double p = double(k) / double(n), nn = double(n), z2 = z * z;
  const double denom = 1.0 + z2 / nn;
  const double centre = (p + z2 / (2.0 * nn)) / denom;
  const double half = z * std::sqrt(p * (1.0 - p) / nn + z2 / (4.0 * nn * nn)) / denom;
  return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

double mcnemar_exact_p(int64_t fixed, int64_t broken) {
  const int64_t m = fixed + broken;
  if (m == 0) return 1.0;
  const int64_t k = std::min(fixed, broken);
  // P[X <= k] for X ~ Binomial(m, 1/2), summed in log space so large m does not overflow.
  double cdf = 0;
  for (int64_t i = 0; i <= k; ++i)
    cdf += std::exp(std::lgamma(double(m) + 1) - std::lgamma(double(i) + 1) - std::lgamma(double(m - i) + 1) -
                    double(m) * std::log(2.0));
  return std::min(1.0, 2.0 * cdf);
}

McNemar mcnemar(const std::vector<bool>& a, const std::vector<bool>& b) {
  if (a.size() != b.size()) fail("mcnemar: the two outcome lists differ in length");
  McNemar r;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] && b[i]) ++r.both;
    else if (!a[i] && !b[i]) ++r.neither;
    else if (b[i]) ++r.fixed;
    else ++r.broken;
  }
  r.p_value = mcnemar_exact_p(r.fixed, r.broken);
  return r;
}

}  // namespace slotlm::eval
