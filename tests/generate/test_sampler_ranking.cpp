// SPDX-License-Identifier: MIT
// The sampler ranks only the part of the vocabulary a call reaches (bands of logits, sorted piece
// by piece). Checked here against the straightforward definition: every candidate sorted, the
// cuts applied to that ranking, the draw walking it. Same seed, same draws: the two must pick the
// same token every time, on flat and peaked vocabularies of Qwen2.5's size, with ties.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "generate/sampler.h"
#include "kernels/ops.h"

namespace slotlm {
namespace {

constexpr int64_t kVocab = 151936;  // Qwen2.5's vocabulary

// The definition, sorting everything (as the sampler did before it ranked lazily).
class FullSortSampler {
 public:
  explicit FullSortSampler(const gen::SamplerParams& p) : p_(p), rng_(p.seed) {}
  int32_t sample(std::vector<float> logits) {
    const int64_t V = int64_t(logits.size());
    const float t = float(p_.temperature);
    for (float& l : logits) l /= t;
    const float mx = kernels::max_value(logits.data(), V);
    std::vector<float> e(static_cast<size_t>(V));
    kernels::exp_shifted(logits.data(), V, mx, e.data());
    const bool top_k = p_.top_k > 0 && p_.top_k < V;
    if (!top_k && p_.top_p >= 1.0 && p_.min_p <= 0.0) {  // nothing cut: id order
      double total = 0;
      for (float v : e) total += double(v);
      const double x = std::uniform_real_distribution<double>(0.0, total)(rng_);
      double cum = 0;
      for (int64_t i = 0; i < V; ++i)
        if (x < (cum += double(e[size_t(i)]))) return int32_t(i);
      return -1;
    }
    std::vector<int32_t> order(static_cast<size_t>(V));
    for (int64_t i = 0; i < V; ++i) order[size_t(i)] = int32_t(i);
    std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
      return logits[size_t(a)] > logits[size_t(b)] || (logits[size_t(a)] == logits[size_t(b)] && a < b);
    });
    auto e_of = [&](size_t n) { return double(e[size_t(order[n])]); };
    size_t keep = size_t(V);
    double norm = 0;
    if (top_k) {
      keep = size_t(p_.top_k);
      for (size_t n = 0; n < keep; ++n) norm += e_of(n);
    } else {
      for (float v : e) norm += double(v);
    }
    if (p_.top_p < 1.0) {
      double cum = 0;
      size_t n = 0;
      while (n < keep) {
        cum += e_of(n++);
        if (cum >= p_.top_p * norm) break;
      }
      keep = n;
    }
    if (p_.min_p > 0.0) {
      size_t n = 1;
      while (n < keep && e_of(n) >= p_.min_p * e_of(0)) ++n;
      keep = n;
    }
    double total = 0;
    for (size_t n = 0; n < keep; ++n) total += e_of(n);
    const double x = std::uniform_real_distribution<double>(0.0, total)(rng_);
    double cum = 0;
    for (size_t n = 0; n < keep; ++n)
      if (x < (cum += e_of(n))) return order[n];
    return order[keep - 1];
  }

 private:
  gen::SamplerParams p_;
  std::mt19937_64 rng_;
};

// Gaussian logits of standard deviation `spread` (1: nearly flat, ~92k tokens in the 0.9 nucleus;
// 6: peaked like a trained model, entropy ~1 nat), rounded to multiples of 1/64 so that many
// candidates tie (ranking breaks ties by id).
std::vector<float> logits_with(double spread, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> n(0.0, spread);
  std::vector<float> z(static_cast<size_t>(kVocab));
  for (float& v : z) v = float(std::round(n(g) * 64) / 64);
  return z;
}

TEST(SamplerRanking, PicksWhatAFullSortPicks) {
  struct Case {
    double temperature;
    int64_t top_k;
    double top_p, min_p;
  };
  const Case cases[] = {
      {0.7, 0, 0.9, 0},  {1.0, 0, 1.0, 0},   {0.7, 20, 0.8, 0}, {1.3, 0, 0.95, 0.05},
      {0.6, 0, 1.0, 0.1}, {1.0, 1000, 1.0, 0}, {2.0, 0, 0.5, 0},  {0.8, 50, 0.9, 0.02},
  };
  int draws = 0;
  for (double spread : {1.0, 3.0, 6.0}) {
    for (const Case& c : cases) {
      gen::SamplerParams p;
      p.temperature = c.temperature;
      p.top_k = c.top_k;
      p.top_p = c.top_p;
      p.min_p = c.min_p;
      p.seed = 42;
      gen::Sampler fast(p);
      FullSortSampler full(p);
      for (uint64_t s = 0; s < 4; ++s) {
        const std::vector<float> z = logits_with(spread, s);
        std::vector<float> zf = z;
        const int32_t want = full.sample(z);
        ASSERT_GE(want, 0);
        ASSERT_EQ(fast.sample(zf.data(), kVocab, {}), want)
            << "spread " << spread << " T " << c.temperature << " top-k " << c.top_k << " top-p " << c.top_p
            << " min-p " << c.min_p << " logits " << s;
        ++draws;
      }
    }
  }
  EXPECT_EQ(draws, 3 * 8 * 4);
}

// A vocabulary where one token holds almost all the mass and the rest sit far below it: the
// ranking has to go through every band (down to the last, which takes what is left) for top-k.
TEST(SamplerRanking, ReachesTheLastBand) {
  std::vector<float> z(static_cast<size_t>(kVocab), -1000.f);
  z[7] = 50.f;
  z[123] = -200.f;
  gen::SamplerParams p;
  p.temperature = 1.0;
  p.top_k = 3;
  p.seed = 5;
  gen::Sampler s(p);
  FullSortSampler full(p);
  for (int i = 0; i < 20; ++i) {
    std::vector<float> a = z;
    EXPECT_EQ(s.sample(a.data(), kVocab, {}), full.sample(z));
  }
}

}  // namespace
}  // namespace slotlm
