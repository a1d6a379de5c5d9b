// SPDX-License-Identifier: MIT
// A loaded decoder-only model (model layer): forward() runs the transformer up to the final
// normed hidden state; lm_head() is a separate call, so SLOT can add its delta in between.
// One Model is shared (const) by all requests; KvCache and Workspace belong to one sequence.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/aligned.h"
#include "model/config.h"
#include "model/kv_cache.h"
#include "model/weights.h"

namespace slotlm::model {

// Scratch activations of one sequence, grown to the largest batch seen and then reused, so the
// decode loop does not allocate. 64-byte aligned: they are the matrix products' inputs and outputs.
struct Workspace {
  AlignedVector<float> x, xn, q, k, v, att, tmp, gate, up;  // [n_tok, *]
  AlignedVector<float> cos, sin;                            // [n_tok, d_head/2]
  int64_t capacity = 0;                             // n_tok the buffers hold
};

class Model {
 public:
  // Loads config.json, generation_config.json and the safetensors weights of an HF folder.
  static std::unique_ptr<Model> load(const std::string& dir);
  Model(ModelConfig cfg, GenerationConfig gen, Weights w);

  const ModelConfig& config() const { return cfg_; }
  const GenerationConfig& generation_config() const { return gen_; }
  const Weights& weights() const { return w_; }
  int64_t d_model() const { return cfg_.hidden_size; }
  int64_t n_vocab() const { return cfg_.vocab_size; }
  // The stop ids: generation_config.json's eos_token_id, else config.json's.
  std::vector<int32_t> eos_ids() const;

  // Runs `tokens` at positions [cache.n_past(), cache.n_past() + n) and appends their keys/values
  // to `cache`. Writes the final normed hidden states `[n, d_model]` to `hidden`.
  // Throws Error if a token id is out of range or the cache is full.
  void forward(std::span<const int32_t> tokens, KvCache& cache, Workspace& ws, float* hidden) const;

  // Batched decode: one token per sequence, `tokens[i]` appended to `*caches[i]` (distinct caches).
  // The weight passes are shared by the whole batch; attention stays within each sequence.
  // `hidden` `[n, d_model]`. Same numbers as n separate forward() calls, up to f32 rounding.
  void forward_batch(std::span<const int32_t> tokens, std::span<KvCache* const> caches, Workspace& ws,
                     float* hidden) const;

  // Consecutive tokens of a mixed batch that belong to one sequence's cache.
  struct Segment {
    KvCache* cache;
    int64_t n_tok;
  };
  // Several sequences in one pass over the weights, each with any number of tokens (a prompt's
  // prefill chunk next to other sequences' decode tokens): segment i's tokens follow segment i-1's
  // in `tokens` and `hidden` `[n, d_model]`. Distinct caches. Each segment gets forward()'s numbers
  // up to f32 rounding (a product's rows may take another path for a larger batch).
  void forward_segments(std::span<const int32_t> tokens, std::span<const Segment> segs, Workspace& ws,
                        float* hidden) const;

  // logits `[n, n_vocab]` = hidden `[n, d_model]` x lm_head^T.
  void lm_head(const float* hidden, int64_t n, float* logits) const;

  KvCache new_cache(int64_t n_ctx) const { return KvCache(cfg_, n_ctx); }

 private:
  void run_layers(std::span<const int32_t> tokens, std::span<const Segment> segs, Workspace& ws,
                  float* hidden) const;

  ModelConfig cfg_;
  GenerationConfig gen_;
  Weights w_;
  std::vector<double> inv_freq_;  // [d_head/2] RoPE inverse frequencies
};

}  // namespace slotlm::model
