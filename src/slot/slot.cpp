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

std::unique_ptr<Objective> make_objective(const model::Model& m, const PromptRef& p, const SlotOptions& o) {
  if (o.path == Path::kFast) return make_fast_objective(m, p.hidden, p.ids, o.mem_budget);
  release_spare_rows();
  return make_reference_objective(m, p.hidden, p.ids, o.mem_budget);
}

double norm2(const std::vector<float>& x) {
  double s = 0;
  for (float v : x) s += double(v) * v;
  return std::sqrt(s);
}

}  // namespace

std::vector<SlotResult> optimize_batch(const model::Model& m, std::span<const PromptRef> prompts,
                                       const SlotOptions& opt, const StepCallback& on_step) {
  validate(opt);
  Timer timer;
  const int64_t d = m.d_model(), V = m.n_vocab();
  const auto& W = m.weights().lm_head;  // [V, d]
  std::vector<SlotResult> res(prompts.size());
  std::vector<std::unique_ptr<Objective>> obj(prompts.size());
  std::vector<AdamW> adam;
  std::vector<size_t> live;  // prompts with at least one next-token pair
  for (size_t i = 0; i < prompts.size(); ++i) {
    res[i].delta.assign(size_t(d), 0.f);
    adam.emplace_back(d, opt.adam);
    if (opt.steps > 0 && prompts[i].ids.size() >= 2) {
      obj[i] = make_objective(m, prompts[i], opt);
      res[i].plan = obj[i]->plan();
      res[i].ran = true;
      live.push_back(i);
    }
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
  const double ms = timer.ms();
  for (auto& R : res) {
    R.delta_norm = norm2(R.delta);
    R.ms = ms;
  }
  return res;
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
