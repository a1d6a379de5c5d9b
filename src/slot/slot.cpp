// SPDX-License-Identifier: MIT
#include "slot/slot.h"

#include <cmath>

#include "core/error.h"
#include "core/timer.h"
#include "kernels/matmul.h"
#include "slot/objective.h"

namespace slotlm::slot {

void validate(const SlotOptions& o) {
  const auto& a = o.adam;
  if (o.steps < 0 || o.steps > kMaxSteps) fail("--slot-steps must be in [0, ", kMaxSteps, "] (got ", o.steps, ")");
  if (!(a.lr > 0 && a.lr <= kMaxLr)) fail("--slot-lr must be in (0, ", kMaxLr, "] (got ", a.lr, ")");
  if (!(a.weight_decay >= 0 && a.weight_decay <= kMaxWeightDecay))
    fail("--slot-wd must be in [0, ", kMaxWeightDecay, "] (got ", a.weight_decay, ")");
  if (!(a.eps > 0) || !std::isfinite(a.eps)) fail("--slot-eps must be a finite number > 0 (got ", a.eps, ")");
  if (!(a.beta1 >= 0 && a.beta1 < 1) || !(a.beta2 >= 0 && a.beta2 < 1))
    fail("--slot-betas must both be in [0, 1) (got ", a.beta1, ",", a.beta2, ")");
  if (o.mem_budget == 0) fail("--slot-mem must be > 0");
}

namespace {

// `deferred`: the fast path's cached rows wait for Objective::rows_ready (IncrementalSlot).
std::unique_ptr<Objective> make_objective(const model::Model& m, const PromptRef& p, const SlotOptions& o,
                                          bool deferred = false) {
  if (o.path == Path::kFast) return make_fast_objective(m, p.hidden, p.ids, o.mem_budget, deferred);
  release_spare_rows();
  return make_reference_objective(m, p.hidden, p.ids, o.mem_budget);
}

double norm2(const std::vector<float>& x) {
  double s = 0;
  for (float v : x) s += double(v) * v;
  return std::sqrt(s);
}

// The AdamW steps of optimize_batch for prompts whose objectives are made (null: no next-token
// pair, nothing to optimise; res[i].ran stays false). `ms0` is time already spent on the
// objectives elsewhere (IncrementalSlot), added to each result's ms.
void run_steps(const model::Model& m, std::vector<std::unique_ptr<Objective>>& obj, const SlotOptions& opt,
               const StepCallback& on_step, std::vector<SlotResult>& res, const Timer& timer, double ms0) {
  const int64_t d = m.d_model(), V = m.n_vocab();
  const auto& W = m.weights().lm_head;  // [V, d]
  std::vector<AdamW> adam;
  std::vector<size_t> live;  // prompts with at least one next-token pair
  for (size_t i = 0; i < obj.size(); ++i) {
    res[i].delta.assign(size_t(d), 0.f);
    adam.emplace_back(d, opt.adam);
    if (!obj[i]) continue;
    res[i].plan = obj[i]->plan();
    res[i].ran = true;
    live.push_back(i);
  }
  // Deltas of all live prompts side by side, so u = W delta is one pass over W for the batch.
  // Each prompt keeps its own objective, optimiser state and delta.
  const int64_t B = int64_t(live.size());
  std::vector<float> deltas(size_t(B * d)), U(size_t(B * V));
  std::vector<float> r(static_cast<size_t>(V)), g(static_cast<size_t>(d));
  // Each prompt's delta before its last step: where it goes back to if that step diverged.
  std::vector<float> before(size_t(B * d));
  std::vector<char> stopped(size_t(B), 0);
  for (int t = 0; t <= opt.steps && B > 0; ++t) {
    for (int64_t b = 0; b < B; ++b) {
      const auto& delta = res[live[size_t(b)]].delta;
      std::copy(delta.begin(), delta.end(), deltas.begin() + b * d);
    }
    kernels::matmul(deltas.data(), B, W, nullptr, U.data());
    const bool last = t == opt.steps;  // after the final step only the loss L(delta_T) is needed
    for (int64_t b = 0; b < B; ++b) {
      if (stopped[size_t(b)]) continue;
      const size_t i = live[size_t(b)];
      SlotResult& R = res[i];
      const double loss = obj[i]->evaluate(U.data() + b * V, R.delta.data(), last ? nullptr : r.data());
      if (t > 0 && !(std::isfinite(loss) && std::isfinite(norm2(R.delta)))) {
        // Step t made delta or its loss non-finite: back to delta_{t-1}, whose loss was finite.
        R.diverged_step = t;
        std::copy_n(before.begin() + b * d, d, R.delta.begin());
        R.loss_final = R.loss.back();
        R.loss.pop_back();
        stopped[size_t(b)] = 1;
        continue;
      }
      if (last) {
        R.loss_final = loss;
        continue;
      }
      R.loss.push_back(loss);
      if (on_step) on_step(i, t + 1, loss);
      kernels::matvec_t(r.data(), W, g.data());
      std::copy(R.delta.begin(), R.delta.end(), before.begin() + b * d);
      adam[i].step(R.delta.data(), g.data());
    }
  }
  const double ms = ms0 + timer.ms();
  for (auto& R : res) {
    R.delta_norm = norm2(R.delta);
    R.ms = ms;
  }
}

}  // namespace

std::vector<SlotResult> optimize_batch(const model::Model& m, std::span<const PromptRef> prompts,
                                       const SlotOptions& opt, const StepCallback& on_step) {
  validate(opt);
  Timer timer;
  std::vector<SlotResult> res(prompts.size());
  std::vector<std::unique_ptr<Objective>> obj(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i)
    if (opt.steps > 0 && prompts[i].ids.size() >= 2) obj[i] = make_objective(m, prompts[i], opt);
  run_steps(m, obj, opt, on_step, res, timer, 0.0);
  return res;
}

IncrementalSlot::IncrementalSlot(const model::Model& m, const float* hidden, std::span<const int32_t> ids,
                                 const SlotOptions& opt)
    : m_(m), opt_(opt), n_rows_(int64_t(ids.size())) {
  validate(opt);
  if (opt.steps == 0 || ids.size() < 2) return;
  Timer t;
  obj_ = make_objective(m, PromptRef{hidden, ids}, opt, /*deferred=*/true);
  ms_ += t.ms();
}

IncrementalSlot::~IncrementalSlot() = default;

void IncrementalSlot::rows_ready(int64_t n) {
  if (!obj_) return;
  Timer t;
  obj_->rows_ready(std::min(n, n_rows_));
  ms_ += t.ms();
}

SlotResult IncrementalSlot::optimize(const StepCallback& on_step) {
  Timer timer;
  std::vector<SlotResult> res(1);
  std::vector<std::unique_ptr<Objective>> obj(1);
  if (obj_) obj_->rows_ready(n_rows_);  // whatever rows_ready() has not seen yet
  obj[0] = std::move(obj_);
  run_steps(m_, obj, opt_, on_step, res, timer, ms_);
  return std::move(res[0]);
}

SlotResult optimize(const model::Model& m, const float* hidden, std::span<const int32_t> ids,
                    const SlotOptions& opt, const StepCallback& on_step) {
  const PromptRef p{hidden, ids};
  return std::move(optimize_batch(m, std::span<const PromptRef>(&p, 1), opt, on_step)[0]);
}

double prompt_loss(const model::Model& m, const float* hidden, std::span<const int32_t> ids,
                   const float* delta) {
  if (ids.size() < 2) fail("prompt_loss: the prompt needs at least 2 tokens");
  auto obj = make_reference_objective(m, hidden, ids, size_t(64) << 20);
  return obj->evaluate(nullptr, delta, nullptr);
}

}  // namespace slotlm::slot
