// SPDX-License-Identifier: MIT
// The SLOT objective of one prompt (slot layer, internal): mean next-token cross-entropy of the
// prompt as a function of `u = W delta`, and its residual r = dL/dz summed over positions, so the
// caller forms the gradient as g = W^T r. Two implementations: fast (cached rows) and reference.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/model.h"

namespace slotlm::slot {

class Objective {
 public:
  virtual ~Objective() = default;
  // Loss L(delta) given `u` = W delta `[n_vocab]` and `delta` `[d_model]`. When `r` is not null it
  // receives dL/dz `[n_vocab]` (the mean over positions of softmax - onehot), so dL/ddelta = W^T r.
  virtual double evaluate(const float* u, const float* delta, float* r) = 0;
  virtual std::string plan() const = 0;
  // Hidden rows [0, n) are final (IncrementalSlot): a plan that caches rows may compute theirs now.
  // evaluate() computes whatever is still missing.
  virtual void rows_ready(int64_t /*n*/) {}
};

// Fast path: with E_n = exp(z0_n - max z0_n) cached once (or recomputed per chunk when the
// cache would exceed `mem_budget` bytes), a step needs no exponentials of [n, V] size. `deferred`:
// the cached rows are computed as rows_ready() says their hidden rows are final, not now.
std::unique_ptr<Objective> make_fast_objective(const model::Model& m, const float* hidden,
                                               std::span<const int32_t> ids, size_t mem_budget,
                                               bool deferred = false);
// Frees the fast path's spare rows buffer (kept between prompts so the next one skips the first
// touch of hundreds of MB). make_objective calls it before the reference path, which needs its own
// buffers of that size: holding both raised the peak RSS of a bench run of both paths by ~300 MB.
void release_spare_rows();
// Reference path: recomputes the logits W (h_n + delta) of every position each step.
std::unique_ptr<Objective> make_reference_objective(const model::Model& m, const float* hidden,
                                                    std::span<const int32_t> ids, size_t mem_budget);

}  // namespace slotlm::slot
