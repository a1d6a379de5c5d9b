// SPDX-License-Identifier: MIT
// Wilson intervals and McNemar's exact test against values computed by hand / textbook formulas.
#include <gtest/gtest.h>

#include <cmath>

#include "eval/stats.h"

namespace slotlm::eval {
namespace {

// Hand-computed values are given to 6 decimals.
constexpr double kTol = 1e-6;

TEST(Wilson, KnownValues) {
  // k = 0, n = 3: lo = 0, hi = z^2/(n + z^2) = 3.841459/6.841459 = 0.561497.
  Interval i = wilson_interval(0, 3);
  EXPECT_NEAR(i.lo, 0.0, kTol);
  EXPECT_NEAR(i.hi, 0.561497, kTol);
  // k = 5, n = 10: centre 0.5, half = z*sqrt(0.025 + z^2/400)/(1 + z^2/10) = 0.5 -+ 0.263407.
  i = wilson_interval(5, 10);
  EXPECT_NEAR(i.lo, 0.236593, kTol);
  EXPECT_NEAR(i.hi, 0.763407, kTol);
  // k = 81, n = 263 (Wilson's classic example in Newcombe 1998: 0.2553 .. 0.3662).
  i = wilson_interval(81, 263);
  EXPECT_NEAR(i.lo, 0.2553, 5e-5);
  EXPECT_NEAR(i.hi, 0.3662, 5e-5);
  // k = n: symmetric to k = 0.
  i = wilson_interval(3, 3);
  EXPECT_NEAR(i.lo, 1.0 - 0.561497, kTol);
  EXPECT_NEAR(i.hi, 1.0, kTol);
  i = wilson_interval(0, 0);
  EXPECT_EQ(i.lo, 0.0);
  EXPECT_EQ(i.hi, 1.0);
}

TEST(McNemar, Counts) {
  const std::vector<bool> a = {true, true, false, false, false, true};
  const std::vector<bool> b = {true, false, true, true, false, true};
  const McNemar m = mcnemar(a, b);
  EXPECT_EQ(m.both, 2);
  EXPECT_EQ(m.broken, 1);
  EXPECT_EQ(m.fixed, 2);
  EXPECT_EQ(m.neither, 1);
  EXPECT_EQ(m.n(), 6);
  EXPECT_NEAR(m.difference(), 1.0 / 6.0, 1e-12);
  // 3 discordant pairs, min 1: 2 * (1 + 3)/8 = 1 (capped).
  EXPECT_NEAR(m.p_value, 1.0, 1e-12);
}

TEST(McNemar, ExactP) {
  EXPECT_NEAR(mcnemar_exact_p(0, 0), 1.0, 1e-12);
  EXPECT_NEAR(mcnemar_exact_p(5, 0), 2.0 / 32.0, 1e-12);      // 2 * 0.5^5
  EXPECT_NEAR(mcnemar_exact_p(0, 5), 2.0 / 32.0, 1e-12);      // symmetric
  EXPECT_NEAR(mcnemar_exact_p(8, 2), 2.0 * 56.0 / 1024.0, 1e-12);  // 2 * (1 + 10 + 45)/2^10
  EXPECT_NEAR(mcnemar_exact_p(10, 10), 1.0, 1e-12);
  // Large counts stay finite: 2 * P[X <= 400], X ~ Bin(1000, 1/2), about 2.7e-10.
  const double p = mcnemar_exact_p(600, 400);
  EXPECT_GT(p, 1e-10);
  EXPECT_LT(p, 1e-9);
}

TEST(McNemar, LengthMismatchThrows) {
  EXPECT_ANY_THROW(mcnemar({true}, {true, false}));
}

}  // namespace
}  // namespace slotlm::eval
