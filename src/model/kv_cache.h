// SPDX-License-Identifier: MIT
// Per-sequence key/value cache (model layer). Belongs to one request; the model's weights are
// shared and const. Sized from the request (prompt + tokens to generate), never per token.
#pragma once

#include <cstdint>
#include <vector>

#include "core/aligned.h"
#include "model/config.h"

namespace slotlm::model {

class KvCache {
 public:
  KvCache() = default;
  // Room for `n_ctx` positions of every layer.
  KvCache(const ModelConfig& c, int64_t n_ctx);
  // The same with the shape given: `n_layer` layers of rows of `row_dim` floats.
  KvCache(int64_t n_layer, int64_t row_dim, int64_t n_ctx);

  int64_t n_ctx() const { return n_ctx_; }
  int64_t n_past() const { return n_past_; }   // positions filled
  void set_n_past(int64_t n) { n_past_ = n; }  // rewind (keeps the prefix) or advance after a forward
  int64_t row_dim() const { return row_dim_; }  // n_kv_head * d_head
  size_t bytes() const { return (k_.size() + v_.size()) * sizeof(float); }

  // Keys/values of layer `l`: `[n_ctx, n_kv_head * d_head]`, row p = position p.
  float* k(int64_t l) { return k_.data() + size_t(l * n_ctx_ * row_dim_); }
  float* v(int64_t l) { return v_.data() + size_t(l * n_ctx_ * row_dim_); }
  const float* k(int64_t l) const { return k_.data() + size_t(l * n_ctx_ * row_dim_); }
  const float* v(int64_t l) const { return v_.data() + size_t(l * n_ctx_ * row_dim_); }

  // Copies positions [0, n) of every layer from `src` (a cache of the same model holding at least
  // n) and sets n_past to n. Throws Error when the shapes differ or n does not fit.
  void copy_prefix(const KvCache& src, int64_t n);
  // A cache of room n holding positions [0, n) of this one.
  KvCache prefix(int64_t n) const;

 private:
  int64_t n_ctx_ = 0, n_past_ = 0, row_dim_ = 0, n_layer_ = 0;
  AlignedVector<float> k_, v_;  // [n_layer, n_ctx, n_kv_head * d_head]
};

}  // namespace slotlm::model
