// SPDX-License-Identifier: MIT
#include "model/kv_cache.h"

namespace slotlm::model {

KvCache::KvCache(const ModelConfig& c, int64_t n_ctx)
    : n_ctx_(n_ctx), row_dim_(c.num_key_value_heads * c.head_dim) {
  const size_t n = size_t(c.num_hidden_layers * n_ctx * row_dim_);
  k_.assign(n, 0.f);
  v_.assign(n, 0.f);
}

}  // namespace slotlm::model
