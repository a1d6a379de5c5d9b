// SPDX-License-Identifier: MIT
// Straightforward path of the SLOT objective, the way the PyTorch reference computes it: every
// step forms the logits W (h_n + delta) of all prompt positions (an [N', V] x d GEMM), their
// softmax, and the residual. Kept to test the fast path against and to measure what it saves.
#include <algorithm>
#include <cmath>

#include "slot/objective.h"

namespace slotlm::slot {

namespace {

class ReferenceObjective : public Objective {
 public:
  ReferenceObjective(const model::Model& m, const float* hidden, std::span<const int32_t> ids,
                     size_t mem_budget)
      : m_(m), hidden_(hidden), ids_(ids.begin(), ids.end()), n_rows_(int64_t(ids.size()) - 1),
        V_(m.n_vocab()), d_(m.d_model()) {
    chunk_ = std::clamp<int64_t>(int64_t(mem_budget / (size_t(V_) * sizeof(float))), 1, n_rows_);
  }

  std::string plan() const override { return "reference"; }

  double evaluate(const float* /*u*/, const float* delta, float* r) override {
    std::vector<float> x(size_t(chunk_ * d_)), z(size_t(chunk_ * V_));
    std::vector<double> p_sum(size_t(V_), 0.0);
    double loss = 0;
    for (int64_t c0 = 0; c0 < n_rows_; c0 += chunk_) {
      const int64_t c1 = std::min(n_rows_, c0 + chunk_);
      for (int64_t n = c0; n < c1; ++n)
        for (int64_t i = 0; i < d_; ++i) x[size_t((n - c0) * d_ + i)] = hidden_[n * d_ + i] + delta[i];
      m_.lm_head(x.data(), c1 - c0, z.data());
      for (int64_t n = c0; n < c1; ++n) {
        const float* zn = z.data() + (n - c0) * V_;
        const float mx = *std::max_element(zn, zn + V_);
        double s = 0;
        for (int64_t v = 0; v < V_; ++v) s += std::exp(double(zn[v] - mx));
        const double lse = std::log(s) + mx;
        loss += lse - zn[ids_[size_t(n + 1)]];
        if (r)
          for (int64_t v = 0; v < V_; ++v) p_sum[size_t(v)] += std::exp(double(zn[v]) - lse);
      }
    }
    const double inv_rows = 1.0 / double(n_rows_);
    if (r) {
      for (int64_t v = 0; v < V_; ++v) r[v] = float(p_sum[size_t(v)] * inv_rows);
      for (int64_t n = 0; n < n_rows_; ++n) r[ids_[size_t(n + 1)]] -= float(inv_rows);
    }
    return loss * inv_rows;
  }

 private:
  const model::Model& m_;
  const float* hidden_;       // [n_rows_ + 1, d_]
  std::vector<int32_t> ids_;  // [n_rows_ + 1]
  int64_t n_rows_, V_, d_, chunk_;
};

}  // namespace

std::unique_ptr<Objective> make_reference_objective(const model::Model& m, const float* hidden,
                                                    std::span<const int32_t> ids, size_t mem_budget) {
  return std::make_unique<ReferenceObjective>(m, hidden, ids, mem_budget);
}

}  // namespace slotlm::slot
