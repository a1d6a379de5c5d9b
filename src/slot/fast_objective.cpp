// SPDX-License-Identifier: MIT
// Fast path of the SLOT objective. Logits are linear in delta: z_n = z0_n + u with u = W delta
// (../shared/SLOT.md, "Why it can be fast"). Factorising the exponentials,
//   exp(z0_n[v] + u[v] - m_n - mu) = E_n[v] * e[v],  E_n = exp(z0_n - m_n),  e = exp(u - mu),
// with m_n = max z0_n and mu = max u, so per step, for each position n,
//   S_n = sum_v E_n[v] e[v]                 (the softmax normaliser, one dot product)
//   L_n = log S_n + m_n + mu - z0_n[y_n] - u[y_n]
//   r   = e * (1/N') sum_n E_n / S_n - (1/N') sum_n onehot(y_n)
// i.e. two passes of multiply-adds over the cached rows and V exponentials, instead of the
// reference's [N', V] GEMM with d inner products and N' * V exponentials. The numbers equal the
// straightforward softmax up to f32 rounding. When S_n underflows (u pushes mass to tokens that
// are tiny in E_n), that row is recomputed exactly from its logits.
// Memory plan (SlotOptions::mem_budget): all E rows in f32 ("cached"); else in f16 ("cached-f16":
// E is in [0, 1], where f16 keeps 11 significant bits, ~5e-4 relative per element, averaging out
// in S_n and r); else chunks of f32 rows recomputed from H every step ("streamed", same numbers as
// "cached", one [chunk, V] x d GEMM per chunk per step).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <string>

#include "core/dtype.h"
#include "core/mapped_file.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "slot/objective.h"

namespace slotlm::slot {

namespace {

// One spare rows buffer, kept when an objective ends and taken by the next one that fits in it:
// in an evaluation, a server or `bench`, each prompt would otherwise pay the first touch of fresh
// memory again (311 MB for 511 rows: 13-235 ms in huge pages on the VM we measure on, the z0
// GEMM itself taking ~250 ms at `fast`). The contents are stale; every plan writes its rows before
// reading them. The buffer held between prompts is one a prompt needed; the reference path, which
// needs buffers of its own, frees it first (release_spare_rows), so neither path's peak grows.
class RowPool {
 public:
  static RowPool& get() {
    static RowPool* p = new RowPool();  // never destroyed: objectives may end at exit
    return *p;
  }
  PageBuffer take(size_t bytes, const std::string& what) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (spare_.size() >= bytes) return std::move(spare_);
      spare_ = PageBuffer();  // too small: freed before the new one is allocated
    }
    return PageBuffer(bytes, what);
  }
  void give_back(PageBuffer b) {
    std::lock_guard<std::mutex> lock(mu_);
    if (b.size() > spare_.size()) spare_ = std::move(b);
  }
  void release() {
    std::lock_guard<std::mutex> lock(mu_);
    spare_ = PageBuffer();
  }

 private:
  std::mutex mu_;
  PageBuffer spare_;
};

// A normaliser below this has lost too many significant bits to the f32 products (E and e are
// both <= 1, so S_n >= 1e-30 still has > 20 bits unless almost all mass sits in denormals).
constexpr double kMinNormaliser = 1e-30;

class FastObjective : public Objective {
 public:
  FastObjective(const model::Model& m, const float* hidden, std::span<const int32_t> ids,
                size_t mem_budget, bool deferred)
      : m_(m), hidden_(hidden), ids_(ids.begin(), ids.end()),
        n_rows_(int64_t(ids.size()) - 1), V_(m.n_vocab()), d_(m.d_model()) {
    const size_t row_bytes = size_t(V_) * sizeof(float);
    row_max_.resize(size_t(n_rows_));
    z0_label_.resize(size_t(n_rows_));
    if (size_t(n_rows_) * row_bytes <= mem_budget) {
      plan_ = Plan::kCached;
      chunk_ = n_rows_;
    } else if (size_t(n_rows_) * size_t(V_) * sizeof(uint16_t) + row_bytes <= mem_budget) {
      plan_ = Plan::kCachedF16;
      // f32 staging rows while filling: what the budget leaves, at most kF16Staging.
      const size_t f16_bytes = size_t(n_rows_) * size_t(V_) * sizeof(uint16_t);
      chunk_ = std::clamp<int64_t>(int64_t((mem_budget - f16_bytes) / row_bytes), 1,
                                   std::min<int64_t>(n_rows_, kF16Staging));
    } else {
      plan_ = Plan::kStreamed;
      chunk_ = std::max<int64_t>(1, int64_t(mem_budget / row_bytes));
    }
    RowPool& pool = RowPool::get();
    if (plan_ == Plan::kCachedF16)  // the large buffer first: it is the one the spare may hold
      rows_f16_ = pool.take(size_t(n_rows_ * V_) * sizeof(uint16_t), "SLOT's cached prompt logits (f16)");
    rows_ = pool.take(size_t(chunk_ * V_) * sizeof(float), "SLOT's cached prompt logits");
    if (plan_ == Plan::kStreamed) filled_ = n_rows_;  // its rows are computed at every step
    if (!deferred) rows_ready(n_rows_);
  }

  // The cached plans' rows of positions [filled_, min(n, n_rows_)), whose hidden rows are final.
  void rows_ready(int64_t n) override {
    const int64_t end = std::min(n, n_rows_);
    if (plan_ == Plan::kCached && end > filled_) fill_rows(filled_, end, rows() + filled_ * V_);
    if (plan_ == Plan::kCachedF16) {
      for (int64_t c0 = filled_; c0 < end; c0 += chunk_) {
        const int64_t c1 = std::min(end, c0 + chunk_);
        fill_rows(c0, c1, rows());
        const size_t count = size_t((c1 - c0) * V_);
        const float* z = rows();
        uint16_t* h = rows_f16() + c0 * V_;
        for (size_t i = 0; i < count; ++i) h[i] = f32_to_f16(z[i]);
      }
      if (end == n_rows_ && filled_ < n_rows_) RowPool::get().give_back(std::move(rows_));  // the staging rows
    }
    filled_ = std::max(filled_, end);
  }
  ~FastObjective() override {
    RowPool::get().give_back(std::move(rows_));
    RowPool::get().give_back(std::move(rows_f16_));
  }
  FastObjective(const FastObjective&) = delete;
  FastObjective& operator=(const FastObjective&) = delete;

  std::string plan() const override {
    return plan_ == Plan::kCached ? "cached" : plan_ == Plan::kCachedF16 ? "cached-f16" : "streamed";
  }

  double evaluate(const float* u, const float* delta, float* r) override {
    if (filled_ < n_rows_) rows_ready(n_rows_);
    const int n_thr = omp_get_max_threads();
    const float mu = kernels::max_value(u, V_);
    e_.resize(size_t(V_));
    kernels::exp_shifted(u, V_, mu, e_.data());
    if (r) acc_.assign(size_t(n_thr) * size_t(V_), 0.f);
    fallback_.assign(size_t(V_), 0.0);
    double loss = 0;
    const int64_t step = plan_ == Plan::kCachedF16 ? n_rows_ : chunk_;
    for (int64_t c0 = 0; c0 < n_rows_; c0 += step) {
      const int64_t c1 = std::min(n_rows_, c0 + step);
      if (plan_ == Plan::kStreamed) fill_rows(c0, c1, rows());
#pragma omp parallel for schedule(static) reduction(+ : loss) if ((c1 - c0) * V_ >= (1 << 16))
      for (int64_t n = c0; n < c1; ++n) {
        thread_local std::vector<float> widened;  // one f16 row as f32 (cached-f16 plan)
        const float* E;
        if (plan_ == Plan::kCachedF16) {
          widened.resize(size_t(V_));
          kernels::convert_to_f32(rows_f16() + n * V_, DType::kF16, V_, widened.data());
          E = widened.data();
        } else {
          E = rows() + (n - c0) * V_;
        }
        const double S = kernels::dot_f32(E, e_.data(), V_);
        const int32_t y = ids_[size_t(n + 1)];
        if (!(S >= kMinNormaliser) || !std::isfinite(S)) {
#pragma omp critical
          loss += exact_row(n, delta, r ? fallback_.data() : nullptr);
          continue;
        }
        loss += std::log(S) + row_max_[size_t(n)] + mu - z0_label_[size_t(n)] - u[y];
        if (r) {
          float* a = acc_.data() + size_t(omp_get_thread_num()) * size_t(V_);
          const float w = float(1.0 / S);
#pragma omp simd
          for (int64_t v = 0; v < V_; ++v) a[v] += w * E[v];
        }
      }
    }
    const double inv_rows = 1.0 / double(n_rows_);
    if (r) {
#pragma omp parallel for schedule(static) if (V_ * n_thr >= (1 << 16))
      for (int64_t v = 0; v < V_; ++v) {
        double s = 0;
        for (int t = 0; t < n_thr; ++t) s += acc_[size_t(t) * size_t(V_) + size_t(v)];
        r[v] = float((s * e_[size_t(v)] + fallback_[size_t(v)]) * inv_rows);
      }
      for (int64_t n = 0; n < n_rows_; ++n) r[ids_[size_t(n + 1)]] -= float(inv_rows);
    }
    return loss * inv_rows;
  }

 private:
  // Computes E rows [c0, c1) into Z (row c0 first), with their maxima and label logits.
  void fill_rows(int64_t c0, int64_t c1, float* Z) {
    m_.lm_head(hidden_ + c0 * d_, c1 - c0, Z);
#pragma omp parallel for schedule(static) if ((c1 - c0) * V_ >= (1 << 16))
    for (int64_t n = c0; n < c1; ++n) {
      float* z = Z + (n - c0) * V_;
      const float mx = kernels::max_value(z, V_);
      row_max_[size_t(n)] = mx;
      z0_label_[size_t(n)] = z[ids_[size_t(n + 1)]];
      kernels::exp_shifted(z, V_, mx, z);
    }
  }

  // Loss of row n computed directly from its logits W (h_n + delta); adds its softmax to `p_acc`.
  double exact_row(int64_t n, const float* delta, double* p_acc) {
    std::vector<float> h(static_cast<size_t>(d_)), z(static_cast<size_t>(V_));
    for (int64_t i = 0; i < d_; ++i) h[size_t(i)] = hidden_[n * d_ + i] + delta[i];
    m_.lm_head(h.data(), 1, z.data());
    const float mx = *std::max_element(z.begin(), z.end());
    double sum = 0;
    for (float zv : z) sum += std::exp(double(zv - mx));
    const double lse = std::log(sum) + mx;
    if (p_acc)
      for (int64_t v = 0; v < V_; ++v) p_acc[v] += std::exp(double(z[size_t(v)]) - lse);
    return lse - z[size_t(ids_[size_t(n + 1)])];
  }

  const model::Model& m_;
  const float* hidden_;            // [n_rows_ + 1, d_]
  std::vector<int32_t> ids_;       // [n_rows_ + 1]
  int64_t n_rows_, V_, d_;
  enum class Plan { kCached, kCachedF16, kStreamed };
  // Rows staged in f32 while the f16 cache is filled.
  static constexpr int64_t kF16Staging = 16;
  Plan plan_ = Plan::kCached;
  int64_t chunk_ = 0;              // rows held at once in rows_
  int64_t filled_ = 0;             // cached plans: rows [0, filled_) are computed (rows_ready)
  // The rows are the objective's largest buffer (311 MB for 511 rows of a 151936 vocabulary):
  // huge pages, not value-initialised. A std::vector's zeroing, page by 4 KiB page, took 775 ms
  // of a 1194 ms SLOT run (0.5B, T = 5); first touch of huge pages takes 13-235 ms, and the
  // next prompt reuses the buffer (RowPool).
  PageBuffer rows_;                // [chunk_, V_] f32 E_n = exp(z0_n - m_n)
  PageBuffer rows_f16_;            // [n_rows_, V_] E_n in f16 (cached-f16 plan)
  float* rows() const { return reinterpret_cast<float*>(rows_.data()); }
  uint16_t* rows_f16() const { return reinterpret_cast<uint16_t*>(rows_f16_.data()); }
  std::vector<float> row_max_;     // [n_rows_] m_n
  std::vector<float> z0_label_;    // [n_rows_] z0_n[y_n]
  std::vector<float> e_;           // [V_] exp(u - mu)
  std::vector<float> acc_;         // [threads, V_] sum_n E_n / S_n
  std::vector<double> fallback_;   // [V_] softmax sums of exactly recomputed rows
};

}  // namespace

void release_spare_rows() { RowPool::get().release(); }

std::unique_ptr<Objective> make_fast_objective(const model::Model& m, const float* hidden,
                                               std::span<const int32_t> ids, size_t mem_budget, bool deferred) {
  return std::make_unique<FastObjective>(m, hidden, ids, mem_budget, deferred);
}

}  // namespace slotlm::slot
