// SPDX-License-Identifier: MIT
#include "slot/adamw.h"

#include <cmath>

namespace slotlm::slot {

void AdamW::step(float* param, const float* grad) {
  ++t_;
  const double bc1 = 1.0 - std::pow(p_.beta1, double(t_));
  const double bc2_sqrt = std::sqrt(1.0 - std::pow(p_.beta2, double(t_)));
  const double step_size = p_.lr / bc1;
  const double decay = 1.0 - p_.lr * p_.weight_decay;
  // Each element in double, stored as f32: the state stays f32 (SLOT.md keeps delta in fp32).
  for (size_t i = 0; i < m_.size(); ++i) {
    const double g = grad[i];
    double x = double(param[i]) * decay;
    const double m = p_.beta1 * m_[i] + (1.0 - p_.beta1) * g;
    const double v = p_.beta2 * v_[i] + (1.0 - p_.beta2) * g * g;
    x -= step_size * m / (std::sqrt(v) / bc2_sqrt + p_.eps);
    m_[i] = float(m);
    v_[i] = float(v);
    param[i] = float(x);
  }
}

}  // namespace slotlm::slot
