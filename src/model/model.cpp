// SPDX-License-Identifier: MIT
#include "model/model.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/attention.h"
#include "kernels/dispatch.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"

namespace slotlm::model {

std::unique_ptr<Model> Model::load(const std::string& dir) {
  ModelConfig cfg = load_config(dir);
  GenerationConfig gen = load_generation_config(dir);
  Weights w = load_weights(cfg, TensorStore::open_dir(dir));
  lay_out_weights(w);
  return std::make_unique<Model>(std::move(cfg), std::move(gen), std::move(w));
}

Model::Model(ModelConfig cfg, GenerationConfig gen, Weights w)
    : cfg_(std::move(cfg)), gen_(std::move(gen)), w_(std::move(w)), inv_freq_(cfg_.rope_inv_freq()) {}

std::vector<int32_t> Model::eos_ids() const {
  return gen_.eos_token_id.empty() ? cfg_.eos_token_id : gen_.eos_token_id;
}

namespace {

void grow(Workspace& ws, const ModelConfig& c, int64_t n) {
  if (n <= ws.capacity) return;
  const size_t d = size_t(c.hidden_size), q = size_t(c.num_attention_heads * c.head_dim);
  const size_t ff = size_t(c.intermediate_size), N = size_t(n);
  ws.x.resize(N * d);
  ws.xn.resize(N * d);
  ws.tmp.resize(N * d);
  ws.q.resize(N * q);
  ws.k.resize(N * size_t(c.num_key_value_heads * c.head_dim));
  ws.v.resize(N * size_t(c.num_key_value_heads * c.head_dim));
  ws.att.resize(N * q);
  ws.gate.resize(N * ff);
  ws.up.resize(N * ff);
  ws.cos.resize(N * size_t(c.head_dim / 2));
  ws.sin.resize(N * size_t(c.head_dim / 2));
  ws.capacity = n;
}

void add_inplace(float* x, const float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

}  // namespace

void Model::forward(std::span<const int32_t> tokens, KvCache& cache, Workspace& ws, float* hidden) const {
  const Segment seg{&cache, int64_t(tokens.size())};
  run_layers(tokens, std::span<const Segment>(&seg, 1), ws, hidden);
}

void Model::forward_batch(std::span<const int32_t> tokens, std::span<KvCache* const> caches, Workspace& ws,
                          float* hidden) const {
  if (tokens.size() != caches.size()) fail("forward_batch: ", tokens.size(), " tokens for ", caches.size(), " caches");
  thread_local std::vector<Segment> segs;  // kept: no allocation per decode step
  segs.clear();
  for (KvCache* c : caches) segs.push_back({c, 1});
  run_layers(tokens, segs, ws, hidden);
}

void Model::forward_segments(std::span<const int32_t> tokens, std::span<const Segment> segs, Workspace& ws,
                             float* hidden) const {
  for (size_t i = 0; i < segs.size(); ++i) {
    if (segs[i].n_tok < 1) fail("forward_segments: segment ", i, " has ", segs[i].n_tok, " tokens");
    for (size_t j = 0; j < i; ++j)
      if (segs[j].cache == segs[i].cache) fail("forward_segments: segments ", j, " and ", i, " share a cache");
  }
  run_layers(tokens, segs, ws, hidden);
}

void Model::run_layers(std::span<const int32_t> tokens, std::span<const Segment> segs, Workspace& ws,
                       float* hidden) const {
  const ModelConfig& c = cfg_;
  const int64_t n = int64_t(tokens.size()), d = c.hidden_size;
  const int64_t n_head = c.num_attention_heads, n_kv = c.num_key_value_heads, d_head = c.head_dim;
  const int64_t half = d_head / 2, q_dim = n_head * d_head, kv_dim = n_kv * d_head;
  if (n == 0) return;
  grow(ws, c, n);
  // Validate everything first, on this thread: fail() must not throw inside a parallel region.
  int64_t row = 0;  // first token of the current segment
  for (const Segment& sg : segs) {
    const int64_t n_past = sg.cache->n_past();
    if (n_past + sg.n_tok > sg.cache->n_ctx())
      fail("context full: ", n_past, " + ", sg.n_tok, " tokens exceed the KV cache of ", sg.cache->n_ctx());
    for (int64_t i = row; i < row + sg.n_tok; ++i) {
      const int32_t t = tokens[size_t(i)];
      if (t < 0 || t >= c.vocab_size) fail("token id ", t, " is out of range [0, ", c.vocab_size, ")");
    }
    row += sg.n_tok;
  }
  if (row != n) fail("forward: segments cover ", row, " of ", n, " tokens");
  kernels::active_isa();  // picks the kernel table now: its first use may throw (bad SLOTLM_ISA)
  // Embedding rows and RoPE angles, in parallel over the tokens of a long segment (prefill).
  row = 0;
  for (const Segment& sg : segs) {
    const int64_t n_past = sg.cache->n_past();
#pragma omp parallel for schedule(static) if (sg.n_tok >= 32)
    for (int64_t i = row; i < row + sg.n_tok; ++i) {
      kernels::matrix_row(w_.embed, tokens[size_t(i)], ws.x.data() + i * d);
      kernels::rope_angles(inv_freq_.data(), half, n_past + i - row, ws.cos.data() + i * half,
                           ws.sin.data() + i * half);
    }
    row += sg.n_tok;
  }
  // The `fast` precision of a bf16 model rounds attention's products to bf16 too (see attention.h);
  // SLOTLM_GEMM=own keeps every product f32.
  const kernels::AttentionShape shape{n_head, n_kv, d_head,
                                      w_.dtype == DType::kBF16 && kernels::bf16_gemm_terms() == 1 &&
                                          kernels::gemm_backend() == kernels::GemmBackend::kAuto};
  const float eps = float(c.rms_norm_eps);
  thread_local std::vector<kernels::AttentionSeq> att_seqs;  // kept: no allocation per token
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const LayerWeights& L = w_.layers[size_t(l)];
    // Attention block: x += o_proj(attn(rope(q), rope(k), v)) of rmsnorm(x). The projections run
    // over all rows at once (every sequence of a batch shares one pass over the weights).
    kernels::rmsnorm(ws.x.data(), L.attn_norm, eps, n, d, ws.xn.data());
    const kernels::MatmulOut qkv[3] = {{L.wq, L.bq, ws.q.data()}, {L.wk, L.bk, ws.k.data()}, {L.wv, L.bv, ws.v.data()}};
    kernels::matmul_multi(ws.xn.data(), n, qkv);
    kernels::rope_apply_rows(ws.q.data(), n, q_dim, n_head, d_head, ws.cos.data(), ws.sin.data());
    kernels::rope_apply_rows(ws.k.data(), n, kv_dim, n_kv, d_head, ws.cos.data(), ws.sin.data());
    // Each sequence appends its keys/values to its own cache and attends over it alone (all of them
    // in one call, which runs batched decode in one parallel region).
    row = 0;
    att_seqs.clear();
    for (const Segment& sg : segs) {
      KvCache& kv = *sg.cache;
      const int64_t n_past = kv.n_past();
      std::copy_n(ws.k.data() + row * kv_dim, sg.n_tok * kv_dim, kv.k(l) + n_past * kv_dim);
      std::copy_n(ws.v.data() + row * kv_dim, sg.n_tok * kv_dim, kv.v(l) + n_past * kv_dim);
      att_seqs.push_back({ws.q.data() + row * q_dim, sg.n_tok, n_past, kv.k(l), kv.v(l), ws.att.data() + row * q_dim,
                          kv.n_ctx()});
      row += sg.n_tok;
    }
    kernels::attention_batch(att_seqs, shape);
    kernels::matmul(ws.att.data(), n, L.wo, L.bo, ws.tmp.data());
    add_inplace(ws.x.data(), ws.tmp.data(), n * d);
    // MLP block: x += down(silu(gate(h)) * up(h)), h = rmsnorm(x).
    kernels::rmsnorm(ws.x.data(), L.ffn_norm, eps, n, d, ws.xn.data());
    kernels::swiglu_mlp(ws.xn.data(), n, L.w_gate, L.b_gate, L.w_up, L.b_up, L.w_down, L.b_down, ws.gate.data(),
                        ws.up.data(), ws.tmp.data());
    add_inplace(ws.x.data(), ws.tmp.data(), n * d);
  }
  kernels::rmsnorm(ws.x.data(), w_.final_norm, eps, n, d, hidden);
  for (const Segment& sg : segs) sg.cache->set_n_past(sg.cache->n_past() + sg.n_tok);
}

void Model::lm_head(const float* hidden, int64_t n, float* logits) const {
  kernels::matmul(hidden, n, w_.lm_head, nullptr, logits);
}

}  // namespace slotlm::model
