// SPDX-License-Identifier: MIT
#include "generate/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

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

namespace {

// Width of a band of the ranking in logits / T: exp(-8 ln 2) = 1/256, so each band holds the
// candidates whose probability is within a further factor 256 of the best one.
constexpr double kBandWidth = 8 * 0.69314718055994531;
// Bands before the last, which takes all the rest: below 2^-128 of the best, exp is 0 or a denormal.
constexpr int kBands = 16;

// A piece of the ranking this many times smaller than the unsorted rest is partially sorted
// (std::partial_sort); a larger one is selected (std::nth_element) and sorted. Measured on 151936
// Gaussian logits (bench_sampler, spread 1): top-k 20 0.28 ms vs 0.97 with selection alone.
constexpr size_t kHeapSortRatio = 64;

bool by_logit(const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

}  // namespace

void Sampler::apply_repeat_penalty(float* logits, int64_t n_vocab, std::span<const int32_t> history) {
  // HF RepetitionPenaltyLogitsProcessor: each distinct seen id once; divide positive logits,
  // multiply negative ones.
  seen_.resize(size_t(n_vocab), 0);
  for (int32_t id : history) {
    if (id < 0 || id >= n_vocab || seen_[size_t(id)]) continue;
    seen_[size_t(id)] = 1;
    float& l = logits[id];
    l = l > 0 ? float(l / p_.repeat_penalty) : float(l * p_.repeat_penalty);
  }
  for (int32_t id : history)
    if (id >= 0 && id < n_vocab) seen_[size_t(id)] = 0;
}

bool Sampler::extend_ranking(const float* logits, int64_t n_vocab) {
  if (band_ > kBands) return false;
  const float lo = band_ == kBands ? -std::numeric_limits<float>::infinity()
                                   : float(double(max_logit_) - kBandWidth * double(band_ + 1));
  band_first_ = n_ranked_;
  // Without a branch: each id is written, and kept when in the band (~50% of a flat vocabulary's
  // ids are, which a branch would mispredict).
  ranked_.resize(std::max(ranked_.size(), size_t(n_vocab) + 1));  // + 1: the last write may be past the kept ones
  size_t n = n_ranked_;
  for (int64_t i = 0; i < n_vocab; ++i) {
    ranked_[n] = {logits[i], int32_t(i)};
    n += size_t(logits[i] >= lo) & size_t(logits[i] < band_top_);  // &, not &&: no branch
  }
  n_ranked_ = n;
  band_top_ = lo;
  ++band_;
  return true;
}

bool Sampler::ranked(const float* logits, int64_t n_vocab, size_t n) {
  while (n >= sorted_) {
    if (sorted_ == n_ranked_) {
      if (!extend_ranking(logits, n_vocab)) return false;
      continue;
    }
    // Sort the next piece of the band: as much as is sorted of it already, at least 32, so a
    // band of a flat distribution costs a few selections, not a sort of all of it. A piece small
    // against the rest takes a partial sort (one pass against a heap of the piece), a larger one
    // a selection and a sort.
    const size_t piece = std::max<size_t>(32, sorted_ - band_first_);
    const size_t end = std::min(n_ranked_, sorted_ + piece);
    const auto b = ranked_.begin() + long(sorted_), e = ranked_.begin() + long(end);
    const auto last = ranked_.begin() + long(n_ranked_);
    if (piece * kHeapSortRatio <= n_ranked_ - sorted_) {
      std::partial_sort(b, e, last, by_logit);
    } else {
      std::nth_element(b, e, last, by_logit);
      std::sort(b, e, by_logit);
    }
    sorted_ = end;
  }
  return true;
}

double Sampler::sum_e(int64_t n_vocab) const {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n_vocab; ++i) s += double(e_[size_t(i)]);
  return s;
}

int32_t Sampler::draw_by_id(int64_t n_vocab) {
  // The total is a vectorised sum, the walk a sequential one; if their roundings differ and the
  // walk ends short of x (~1e-16 of draws), it takes the last id with a non-zero probability.
  const double x = std::uniform_real_distribution<double>(0.0, sum_e(n_vocab))(rng_);
  double cum = 0;
  for (int64_t i = 0; i < n_vocab; ++i) {
    cum += double(e_[size_t(i)]);
    if (x < cum) return int32_t(i);
  }
  for (int64_t i = n_vocab - 1; i > 0; --i)
    if (e_[size_t(i)] > 0) return int32_t(i);
  return 0;
}

size_t Sampler::kept_prefix(const float* logits, int64_t n_vocab) {
  auto e_of = [&](size_t n) { return double(e_[size_t(ranked_[n].second)]); };
  // top-k: the first k of the ranking, which then normalise over themselves; else all of them.
  size_t keep = size_t(n_vocab);
  double norm = 0;
  if (p_.top_k > 0 && p_.top_k < n_vocab) {
    keep = ranked(logits, n_vocab, size_t(p_.top_k) - 1) ? size_t(p_.top_k) : sorted_;
    for (size_t n = 0; n < keep; ++n) norm += e_of(n);
  } else {
    norm = sum_e(n_vocab);
  }
  if (p_.top_p < 1.0) {  // the shortest prefix whose probability reaches top_p
    const double target = p_.top_p * norm;
    double cum = 0;
    size_t n = 0;
    while (n < keep && ranked(logits, n_vocab, n)) {
      cum += e_of(n++);
      if (cum >= target) break;
    }
    keep = std::max<size_t>(n, 1);
  }
  if (p_.min_p > 0.0) {  // the prefix with p >= min_p * p_max
    const double cut = p_.min_p * e_of(0);
    size_t n = 1;
    while (n < keep && ranked(logits, n_vocab, n) && e_of(n) >= cut) ++n;
    keep = n;
  }
  return std::min(keep, sorted_);  // every kept candidate has been ranked by now
}

int32_t Sampler::sample(float* logits, int64_t n_vocab, std::span<const int32_t> history) {
  if (p_.repeat_penalty != 1.0) apply_repeat_penalty(logits, n_vocab, history);
  if (p_.temperature == 0.0) return int32_t(kernels::argmax(logits, n_vocab));
  // Temperature in f32, as HF's `scores / temperature`; then e = exp(logit - max), the
  // probabilities up to their normaliser (which the cuts never need).
  // A temperature so small (or a repeat penalty so strong) that the best logit overflows to +inf:
  // exp(inf - inf) would make every probability NaN (HF's multinomial refuses them). The limit of
  // the distribution as the temperature falls is greedy, so take the argmax of the logits as they
  // are (before the division, which would tie every overflowed logit at +inf).
  // Division by t > 0 is monotonic in IEEE arithmetic, so the best logit over t is the best of the
  // divided logits, bit for bit: one pass finds both.
  const float t = float(p_.temperature);
  max_logit_ = kernels::max_value(logits, n_vocab) / t;
  if (!std::isfinite(max_logit_)) return int32_t(kernels::argmax(logits, n_vocab));
  for (int64_t i = 0; i < n_vocab; ++i) logits[i] /= t;
  e_.resize(size_t(n_vocab));
  kernels::exp_shifted(logits, n_vocab, max_logit_, e_.data());
  if (!(p_.top_k > 0 && p_.top_k < n_vocab) && p_.top_p >= 1.0 && p_.min_p <= 0.0) return draw_by_id(n_vocab);
  n_ranked_ = sorted_ = band_first_ = 0;
  band_ = 0;
  band_top_ = std::numeric_limits<float>::infinity();
  if (!ranked(logits, n_vocab, 0)) return int32_t(kernels::argmax(logits, n_vocab));  // no finite logit
  // Draw from the kept prefix, walking it in rank order (summed in the order of its total).
  const size_t keep = kept_prefix(logits, n_vocab);
  double total = 0;
  for (size_t n = 0; n < keep; ++n) total += double(e_[size_t(ranked_[n].second)]);
  const double x = std::uniform_real_distribution<double>(0.0, total)(rng_);
  double cum = 0;
  for (size_t n = 0; n < keep; ++n) {
    cum += double(e_[size_t(ranked_[n].second)]);
    if (x < cum) return ranked_[n].second;
  }
  return ranked_[keep - 1].second;
}

}  // namespace slotlm::gen
