// SPDX-License-Identifier: MIT
#include "model/weights.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <utility>

#include "core/aligned.h"
#include "core/error.h"
#include "core/timer.h"
#include "kernels/matmul.h"

namespace slotlm::model {

namespace {

class Loader {
 public:
  Loader(const TensorStore& store, Weights& w) : store_(store), w_(w) {}

  MatView mat(const std::string& name, int64_t rows, int64_t cols) {
    TensorView t = store_.get(name, {rows, cols});
    return MatView{t.data, t.dtype, rows, cols};
  }
  const float* vec(const std::string& name, int64_t n) {
    TensorView t = store_.get(name, {n});
    std::vector<float>& v = w_.owned.emplace_back(size_t(n));
    kernels::convert_to_f32(t.data, t.dtype, n, v.data());
    return v.data();
  }
  const float* opt_vec(bool present, const std::string& name, int64_t n) {
    return present ? vec(name, n) : nullptr;
  }

 private:
  const TensorStore& store_;
  Weights& w_;
};

}  // namespace

Weights load_weights(const ModelConfig& c, std::unique_ptr<TensorStore> store) {
  Weights w;
  Loader ld(*store, w);
  const int64_t d = c.hidden_size, d_ff = c.intermediate_size, v = c.vocab_size;
  const int64_t q_dim = c.num_attention_heads * c.head_dim, kv_dim = c.num_key_value_heads * c.head_dim;
  const bool has_embed = store->contains("model.embed_tokens.weight");
  const bool has_head = store->contains("lm_head.weight");
  if (!has_embed && !has_head) fail("model weights: tensor 'model.embed_tokens.weight' is missing");
  w.embed = ld.mat(has_embed ? "model.embed_tokens.weight" : "lm_head.weight", v, d);
  if (has_head && !c.tie_word_embeddings) {
    w.lm_head = ld.mat("lm_head.weight", v, d);
  } else if (c.tie_word_embeddings || !has_head) {
    if (!c.tie_word_embeddings)
      fail("model weights: tensor 'lm_head.weight' is missing and tie_word_embeddings is false");
    w.lm_head = w.embed;
  }
  w.dtype = w.embed.dtype;
  w.layers.resize(size_t(c.num_hidden_layers));
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    LayerWeights& L = w.layers[size_t(i)];
    L.attn_norm = ld.vec(p + "input_layernorm.weight", d);
    L.wq = ld.mat(p + "self_attn.q_proj.weight", q_dim, d);
    L.wk = ld.mat(p + "self_attn.k_proj.weight", kv_dim, d);
    L.wv = ld.mat(p + "self_attn.v_proj.weight", kv_dim, d);
    L.wo = ld.mat(p + "self_attn.o_proj.weight", d, q_dim);
    L.bq = ld.opt_vec(c.attention_bias, p + "self_attn.q_proj.bias", q_dim);
    L.bk = ld.opt_vec(c.attention_bias, p + "self_attn.k_proj.bias", kv_dim);
    L.bv = ld.opt_vec(c.attention_bias, p + "self_attn.v_proj.bias", kv_dim);
    // HF LlamaAttention gives o_proj a bias when attention_bias; Qwen2Attention never does.
    L.bo = ld.opt_vec(c.attention_bias && c.arch == Arch::kLlama, p + "self_attn.o_proj.bias", d);
    L.ffn_norm = ld.vec(p + "post_attention_layernorm.weight", d);
    L.w_gate = ld.mat(p + "mlp.gate_proj.weight", d_ff, d);
    L.w_up = ld.mat(p + "mlp.up_proj.weight", d_ff, d);
    L.w_down = ld.mat(p + "mlp.down_proj.weight", d, d_ff);
    L.b_gate = ld.opt_vec(c.mlp_bias, p + "mlp.gate_proj.bias", d_ff);
    L.b_up = ld.opt_vec(c.mlp_bias, p + "mlp.up_proj.bias", d_ff);
    L.b_down = ld.opt_vec(c.mlp_bias, p + "mlp.down_proj.bias", d);
  }
  w.final_norm = ld.vec("model.norm.weight", d);
  w.store = std::move(store);
  return w;
}

namespace {
// Bytes laid out between two page give-backs (lay_out_weights).
constexpr int64_t kSliceBytes = int64_t(16) << 20;

enum class How { kTiles, kBlocked, kCopy };

// Rows per slice of `m` laid out `how`: ~kSliceBytes, a multiple of the layout's row block.
int64_t slice_rows(const MatView& m, How how) {
  const int64_t step = how == How::kTiles ? 32 : how == How::kBlocked ? 64 : 1;
  const int64_t row_bytes = m.cols * int64_t(dtype_size(m.dtype));
  return std::max<int64_t>(step, kSliceBytes / row_bytes / step * step);
}

// [p, p + n) of the store into dst, in pieces of 4 MiB read by all threads: a read from the page
// cache is a copy one core does at a fraction of the memory's bandwidth (0.5B's blocked layout,
// warm, alternating processes: 265-279 vs 342-353 ms).
void read_parallel(const TensorStore& store, const uint8_t* p, size_t n, uint8_t* dst) {
  constexpr size_t kPiece = size_t(4) << 20;
  const int64_t pieces = int64_t((n + kPiece - 1) / kPiece);
  std::exception_ptr err;
#pragma omp parallel for schedule(dynamic, 1) if (pieces > 1)
  for (int64_t i = 0; i < pieces; ++i) {
    const size_t off = size_t(i) * kPiece;
    try {
      store.read(p + off, std::min(kPiece, n - off), dst + off);
    } catch (...) {
#pragma omp critical
      err = std::current_exception();
    }
  }
  if (err) std::rethrow_exception(err);
}

// `part` of a stored matrix laid out `how` into `out`. Its bytes are read from the file (into
// `staging` unless copied as they are), not through the mapping: a one-shot load of 0.5B spent
// ~0.5 s faulting the mapping in 4 KiB pages against ~0.15 s for a huge-page copy's one read.
void lay_out_rows(const TensorStore& store, const MatView& part, How how, AlignedVector<uint8_t>& staging,
                  uint8_t* out) {
  const size_t n = size_t(part.rows * part.cols) * dtype_size(part.dtype);
  const auto* src = static_cast<const uint8_t*>(part.data);
  if (how == How::kCopy) {
    read_parallel(store, src, n, out);
    return;
  }
  staging.resize(n);
  read_parallel(store, src, n, staging.data());
  const MatView staged{staging.data(), part.dtype, part.rows, part.cols};
  if (how == How::kTiles) kernels::pack_amx_tiles(staged, reinterpret_cast<uint16_t*>(out));
  if (how == How::kBlocked) kernels::pack_blocked(staged, reinterpret_cast<uint16_t*>(out));
}
}  // namespace

void lay_out_weights(Weights& w) {
  const bool tiles = kernels::amx_tiles_wanted();
  const bool blocked = !tiles && kernels::blocked_wanted();
  if (!tiles && !blocked) return;
  // Every layer matrix and the LM head: for the AMX tiles or in oneDNN's blocks when they fit, else
  // copied as they are (f32 and f16 models, shapes that are not whole blocks), so all that decode
  // streams is in huge pages (the file is mapped, not copied, when a layout is made). The LM head's
  // other readers follow it: SLOT's W^T r (kernels::matvec_t) and a tied embedding's lookups.
  std::vector<std::pair<MatView*, How>> mats;
  auto add = [&](MatView* m) {
    if (tiles) mats.emplace_back(m, kernels::amx_tiles_fit(*m) ? How::kTiles : How::kCopy);
    if (blocked) mats.emplace_back(m, kernels::blocked_fit(*m) ? How::kBlocked : How::kCopy);
  };
  for (LayerWeights& l : w.layers)
    for (MatView* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) add(m);
  add(&w.lm_head);
  auto bytes = [](const MatView& m) {  // multiples of 64 bytes: every layout starts aligned
    return (size_t(m.rows * m.cols) * dtype_size(m.dtype) + 63) / 64 * 64;
  };
  size_t total = 0;
  for (const auto& [m, how] : mats) total += bytes(*m);
  if (total == 0) return;
  const Timer t;
  w.layout = PageBuffer(total, tiles ? "the AMX layout of the weights" : "the blocked layout of the weights");
  bool any_tiles = false, any_blocked = false;
  for (const auto& [m, how] : mats) {
    any_tiles = any_tiles || how == How::kTiles;
    any_blocked = any_blocked || how == How::kBlocked;
  }
  w.layout_name = any_tiles ? "AMX tiles" : any_blocked ? "oneDNN's blocks" : "stored rows in huge pages";
  size_t off = 0;
  AlignedVector<uint8_t> staging;
  for (const auto& [m, how] : mats) {
    uint8_t* out = w.layout.data() + off;
    // In slices of rows, each slice's mapped pages (if anything touched them) given back once it is
    // laid out, so the file's pages and the layout are both resident for one slice at a time (peak
    // RSS ~ the weights).
    const int64_t slice = slice_rows(*m, how), row_bytes = m->cols * int64_t(dtype_size(m->dtype));
    for (int64_t r0 = 0; r0 < m->rows; r0 += slice) {
      const MatView part{m->row_ptr(r0), m->dtype, std::min(slice, m->rows - r0), m->cols};
      lay_out_rows(*w.store, part, how, staging, out + r0 * row_bytes);
      w.store->drop_pages(part.data, size_t(part.rows * row_bytes));
    }
    if (how == How::kTiles) m->tiles = out;
    // A tied embedding looks its rows up in the blocked layout or the copy too (kernels::matrix_row).
    const bool tied = w.embed.data == m->data;
    if (how == How::kBlocked) m->blocked = out;
    if (how == How::kCopy) m->data = out;
    if (tied && how != How::kTiles) w.embed = *m;
    off += bytes(*m);
  }
  w.layout_ms = t.ms();
}

}  // namespace slotlm::model
