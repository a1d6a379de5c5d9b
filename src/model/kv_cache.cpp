// SPDX-License-Identifier: MIT
#include "model/kv_cache.h"

#include <algorithm>

#include "core/error.h"

namespace slotlm::model {

KvCache::KvCache(const ModelConfig& c, int64_t n_ctx)
    : KvCache(c.num_hidden_layers, c.num_key_value_heads * c.head_dim, n_ctx) {}

KvCache::KvCache(int64_t n_layer, int64_t row_dim, int64_t n_ctx)
    : n_ctx_(n_ctx), row_dim_(row_dim), n_layer_(n_layer) {
  const size_t n = size_t(n_layer * n_ctx * row_dim);
  k_.assign(n, 0.f);
  v_.assign(n, 0.f);
}

KvCache KvCache::prefix(int64_t n) const {
  KvCache out(n_layer_, row_dim_, n);
  out.copy_prefix(*this, n);
  return out;
}

void KvCache::copy_prefix(const KvCache& src, int64_t n) {
  if (src.row_dim_ != row_dim_ || src.n_layer_ != n_layer_)
    fail("copy_prefix: the caches belong to different models");
  if (n < 0 || n > src.n_past_ || n > n_ctx_)
    fail("copy_prefix: ", n, " positions do not fit (source holds ", src.n_past_, ", room for ", n_ctx_, ")");
  const size_t rows = size_t(n * row_dim_);
  for (int64_t l = 0; l < n_layer_; ++l) {
    std::copy(src.k(l), src.k(l) + rows, k(l));
    std::copy(src.v(l), src.v(l) + rows, v(l));
  }
  n_past_ = n;
}

}  // namespace slotlm::model
