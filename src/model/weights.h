// SPDX-License-Identifier: MIT
// The model's const weights by role (model layer), viewed in place in the mapped safetensors.
// Matrices keep their stored dtype; small vectors (norms, biases) are held as f32 copies.
#pragma once

#include <memory>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace slotlm::model {

struct LayerWeights {
  const float* attn_norm = nullptr;  // [d_model]             input_layernorm.weight
  MatView wq;                        // [n_head*d_head, d_model]  self_attn.q_proj.weight
  MatView wk;                        // [n_kv_head*d_head, d_model]
  MatView wv;                        // [n_kv_head*d_head, d_model]
  MatView wo;                        // [d_model, n_head*d_head]
  const float* bq = nullptr;         // [n_head*d_head] or null (Qwen2, attention_bias)
  const float* bk = nullptr;         // [n_kv_head*d_head] or null
  const float* bv = nullptr;         // [n_kv_head*d_head] or null
  const float* bo = nullptr;         // [d_model] or null (Llama attention_bias only)
  const float* ffn_norm = nullptr;   // [d_model]             post_attention_layernorm.weight
  MatView w_gate;                    // [d_ff, d_model]       mlp.gate_proj.weight
  MatView w_up;                      // [d_ff, d_model]       mlp.up_proj.weight
  MatView w_down;                    // [d_model, d_ff]       mlp.down_proj.weight
  const float* b_gate = nullptr;     // [d_ff] or null (mlp_bias)
  const float* b_up = nullptr;       // [d_ff] or null
  const float* b_down = nullptr;     // [d_model] or null
};

struct Weights {
  MatView embed;                     // [n_vocab, d_model]    model.embed_tokens.weight
  std::vector<LayerWeights> layers;  // [n_layer]
  const float* final_norm = nullptr; // [d_model]             model.norm.weight
  MatView lm_head;                   // [n_vocab, d_model]    lm_head.weight, or `embed` when tied
  DType dtype = DType::kF32;         // dtype of the big matrices (for reporting)

  std::unique_ptr<TensorStore> store;       // owns the mappings the views point into
  std::vector<std::vector<float>> owned;    // f32 copies of norms and biases
  // The matrices laid out once at load (lay_out_weights), or empty: for the AMX tiles
  // (MatView::tiles), or in oneDNN's blocked layout (MatView::blocked, with copies of the matrices
  // that do not fit it).
  PageBuffer layout;
  // "AMX tiles", "oneDNN's blocks", or "stored rows in huge pages" (nothing fit the blocks: copies)
  const char* layout_name = "";
  double layout_ms = 0;          // how long laying them out took
};

// Loads every tensor the config needs from `store`, checking names and shapes. Tied embeddings:
// a missing `lm_head.weight` uses the embedding; a missing `model.embed_tokens.weight` uses the
// stored `lm_head.weight` when the file's metadata names it as the alias (tinystories-656k).
Weights load_weights(const ModelConfig& cfg, std::unique_ptr<TensorStore> store);

// When the products run on AMX (kernels::amx_tiles_wanted), lays every layer matrix and the LM head
// that fit out for the tiles once (kernels::pack_amx_tiles) into `w.layout`; without AMX, on CPUs
// whose oneDNN bf16 GEMM prefers its blocked layout (kernels::blocked_wanted), lays every layer
// matrix that fits out that way (kernels::pack_blocked) and copies the rest and the LM head as they
// are. Either way it gives back the mapped pages of the plain layout (TensorStore::drop_pages: the
// paths that read the layout, and SLOT's matvec_t, no longer read them, others read them from the
// file again), so the weights stay held once. An untied embedding (and with AMX a tied one) reads
// its rows from the file's pages (one page per token looked up, again after they are given back).
// The layout lives in transparent huge pages: decode
// step in one process, interleaved, huge vs 4 KiB pages: 0.5B 36.3 vs 39.2 ms (1 sequence), 48.6
// vs 49.6 (8); 1.5B 116.7 vs 122.3, 134.0 vs 140.6. Their first touch costs load time (the kernel
// zeroes them: 1.5B 1.1-1.7 s vs 0.9-1.0 s with 4 KiB pages).
void lay_out_weights(Weights& w);

}  // namespace slotlm::model
