// SPDX-License-Identifier: MIT
// AdamW on one f32 vector with PyTorch semantics (slot layer): matches torch.optim.AdamW
// (decoupled weight decay, bias-corrected moments, eps added after dividing sqrt(v) by
// sqrt(1 - beta2^t)), single-tensor path, amsgrad=False, maximize=False.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace slotlm::slot {

struct AdamWParams {
  double lr = 0.1;            // learning rate
  double beta1 = 0.9;         // first-moment decay
  double beta2 = 0.999;       // second-moment decay
  double eps = 1e-5;          // added to the bias-corrected sqrt(v) (SLOT's reference: 1e-5)
  double weight_decay = 1e-8; // decoupled: param *= 1 - lr * weight_decay
};

class AdamW {
 public:
  AdamW(int64_t n, const AdamWParams& p) : p_(p), m_(size_t(n), 0.f), v_(size_t(n), 0.f) {}
  // One step on `param` `[n]` with gradient `grad` `[n]`; the step counter starts at 1.
  void step(float* param, const float* grad);
  int64_t steps_taken() const { return t_; }

 private:
  AdamWParams p_;
  std::vector<float> m_, v_;  // [n] first and second moments
  int64_t t_ = 0;
};

}  // namespace slotlm::slot
