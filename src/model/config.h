// SPDX-License-Identifier: MIT
// HF config.json -> ModelConfig (model layer). Fields keep the HF key names, so parsing needs no
// translation table. Glossary of the short names used in kernels and forward():
//   n_layer = num_hidden_layers, n_head = num_attention_heads, n_kv_head = num_key_value_heads,
//   d_model = hidden_size, d_head = head_dim (default hidden_size / num_attention_heads),
//   d_ff = intermediate_size, n_vocab = vocab_size, n_ctx = max_position_embeddings.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace slotlm::model {

enum class Arch { kLlama, kQwen2 };

// Llama-3 `rope_scaling` of rope_type "llama3" (HF `_compute_llama3_parameters`).
struct Llama3RopeScaling {
  bool enabled = false;
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  Arch arch = Arch::kLlama;
  std::string architecture;          // architectures[0], e.g. "Qwen2ForCausalLM"
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;   // defaults to num_attention_heads
  int64_t head_dim = 0;              // defaults to hidden_size / num_attention_heads
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  Llama3RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;       // q/k/v biases (always true for Qwen2)
  bool mlp_bias = false;
  std::vector<int32_t> eos_token_id;  // from config.json; generation_config.json may override
  int32_t bos_token_id = -1;

  // RoPE inverse frequencies `[head_dim/2]`, with llama3 scaling applied when enabled.
  std::vector<double> rope_inv_freq() const;
};

// Parses and validates `dir`/config.json. Throws Error naming the file and field for anything
// unsupported (other architectures, hidden_act other than silu, other rope_scaling types, ...).
ModelConfig load_config(const std::string& dir);
// Same, from JSON text; `source` names it in errors.
ModelConfig parse_config(const std::string& json_text, const std::string& source);

// Sampling defaults and stop ids from generation_config.json (all optional).
struct GenerationConfig {
  std::vector<int32_t> eos_token_id;  // empty when absent
  bool has_temperature = false, has_top_p = false, has_top_k = false, has_repetition_penalty = false;
  bool do_sample = false;
  double temperature = 1.0, top_p = 1.0, repetition_penalty = 1.0;
  int64_t top_k = 0;
};
// Reads `dir`/generation_config.json when present, else returns defaults.
GenerationConfig load_generation_config(const std::string& dir);

}  // namespace slotlm::model
