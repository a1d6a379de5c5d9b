// SPDX-License-Identifier: MIT
#include "model/config.h"

#include <cmath>
#include <filesystem>
#include <numbers>

#include "core/error.h"
#include "core/json_file.h"
#include "core/mapped_file.h"

namespace slotlm::model {

namespace {

// Reads an optional key of `j` with type checking; errors name the file and field.
template <typename T>
bool get_opt(const Json& j, const char* key, T* out, const std::string& src) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return false;
  try {
    if constexpr (std::is_same_v<T, bool>) {
      if (!it->is_boolean()) throw std::exception();
    } else if constexpr (std::is_integral_v<T>) {
      if (!it->is_number_integer()) throw std::exception();
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!it->is_number()) throw std::exception();
    } else {
      if (!it->is_string()) throw std::exception();
    }
    *out = it->get<T>();
  } catch (...) {
    fail(src, ": field '", key, "' has the wrong type (", it->type_name(), ")");
  }
  return true;
}

template <typename T>
T get_req(const Json& j, const char* key, const std::string& src) {
  T v{};
  if (!get_opt(j, key, &v, src)) fail(src, ": missing field '", key, "'");
  return v;
}

std::vector<int32_t> parse_id_list(const Json& j, const char* key, const std::string& src) {
  std::vector<int32_t> ids;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return ids;
  if (it->is_number_integer()) {
    ids.push_back(it->get<int32_t>());
  } else if (it->is_array()) {
    for (const auto& e : *it) {
      if (!e.is_number_integer()) fail(src, ": field '", key, "' must hold integers");
      ids.push_back(e.get<int32_t>());
    }
  } else {
    fail(src, ": field '", key, "' must be an integer or a list of integers");
  }
  return ids;
}

void check_positive(int64_t v, const char* key, const std::string& src) {
  if (v <= 0) fail(src, ": field '", key, "' must be positive (got ", v, ")");
}

}  // namespace

ModelConfig parse_config(const std::string& json_text, const std::string& src) {
  Json j;
  try {
    j = Json::parse(json_text);
  } catch (const Json::parse_error& e) {
    fail(src, ": invalid JSON: ", e.what());
  }
  if (!j.is_object()) fail(src, ": expected a JSON object");
  ModelConfig c;
  auto arch_it = j.find("architectures");
  if (arch_it == j.end() || !arch_it->is_array() || arch_it->empty() || !(*arch_it)[0].is_string())
    fail(src, ": field 'architectures' must be a non-empty list of names");
  c.architecture = (*arch_it)[0].get<std::string>();
  if (c.architecture == "LlamaForCausalLM") {
    c.arch = Arch::kLlama;
  } else if (c.architecture == "Qwen2ForCausalLM") {
    c.arch = Arch::kQwen2;
  } else {
    fail(src, ": field 'architectures' is '", c.architecture,
         "'; supported: LlamaForCausalLM, Qwen2ForCausalLM");
  }
  c.hidden_size = get_req<int64_t>(j, "hidden_size", src);
  c.intermediate_size = get_req<int64_t>(j, "intermediate_size", src);
  c.num_hidden_layers = get_req<int64_t>(j, "num_hidden_layers", src);
  c.num_attention_heads = get_req<int64_t>(j, "num_attention_heads", src);
  c.vocab_size = get_req<int64_t>(j, "vocab_size", src);
  check_positive(c.hidden_size, "hidden_size", src);
  check_positive(c.intermediate_size, "intermediate_size", src);
  check_positive(c.num_hidden_layers, "num_hidden_layers", src);
  check_positive(c.num_attention_heads, "num_attention_heads", src);
  check_positive(c.vocab_size, "vocab_size", src);
  c.num_key_value_heads = c.num_attention_heads;
  get_opt(j, "num_key_value_heads", &c.num_key_value_heads, src);
  check_positive(c.num_key_value_heads, "num_key_value_heads", src);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    fail(src, ": field 'num_attention_heads' (", c.num_attention_heads,
         ") must be a multiple of 'num_key_value_heads' (", c.num_key_value_heads, ")");
  if (!get_opt(j, "head_dim", &c.head_dim, src)) {
    if (c.hidden_size % c.num_attention_heads != 0)
      fail(src, ": field 'hidden_size' is not a multiple of 'num_attention_heads' and no head_dim");
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  check_positive(c.head_dim, "head_dim", src);
  if (c.head_dim % 2 != 0) fail(src, ": field 'head_dim' must be even for RoPE");
  c.max_position_embeddings = 2048;
  get_opt(j, "max_position_embeddings", &c.max_position_embeddings, src);
  check_positive(c.max_position_embeddings, "max_position_embeddings", src);
  get_opt(j, "rms_norm_eps", &c.rms_norm_eps, src);
  if (!(c.rms_norm_eps > 0)) fail(src, ": field 'rms_norm_eps' must be positive");
  get_opt(j, "rope_theta", &c.rope_theta, src);
  if (!(c.rope_theta > 0)) fail(src, ": field 'rope_theta' must be positive");
  get_opt(j, "tie_word_embeddings", &c.tie_word_embeddings, src);
  std::string act = "silu";
  get_opt(j, "hidden_act", &act, src);
  if (act != "silu") fail(src, ": field 'hidden_act' is '", act, "'; only 'silu' is supported");
  if (c.arch == Arch::kQwen2) {
    c.attention_bias = true;  // Qwen2 always has q/k/v biases (HF Qwen2Attention)
    bool sliding = false;
    get_opt(j, "use_sliding_window", &sliding, src);
    if (sliding) fail(src, ": field 'use_sliding_window' is true; sliding-window attention is not supported");
  } else {
    get_opt(j, "attention_bias", &c.attention_bias, src);
    get_opt(j, "mlp_bias", &c.mlp_bias, src);
    int64_t tp = 1;
    get_opt(j, "pretraining_tp", &tp, src);
  }
  auto rs = j.find("rope_scaling");
  if (rs != j.end() && !rs->is_null()) {
    if (!rs->is_object()) fail(src, ": field 'rope_scaling' must be an object or null");
    std::string type;
    if (!get_opt(*rs, "rope_type", &type, src + " rope_scaling")) get_opt(*rs, "type", &type, src + " rope_scaling");
    if (type == "default") {
    } else if (type == "llama3") {
      auto& s = c.rope_scaling;
      s.enabled = true;
      const std::string sub = src + ": rope_scaling";
      s.factor = get_req<double>(*rs, "factor", sub);
      s.low_freq_factor = get_req<double>(*rs, "low_freq_factor", sub);
      s.high_freq_factor = get_req<double>(*rs, "high_freq_factor", sub);
      s.original_max_position_embeddings =
          get_req<int64_t>(*rs, "original_max_position_embeddings", sub);
      if (!(s.factor > 0) || !(s.low_freq_factor > 0) || !(s.high_freq_factor > s.low_freq_factor) ||
          s.original_max_position_embeddings <= 0)
        fail(src, ": field 'rope_scaling' has invalid llama3 parameters");
    } else {
      fail(src, ": field 'rope_scaling.rope_type' is '", type, "'; supported: llama3");
    }
  }
  c.eos_token_id = parse_id_list(j, "eos_token_id", src);
  int64_t bos = -1;
  get_opt(j, "bos_token_id", &bos, src);
  c.bos_token_id = int32_t(bos);
  return c;
}

ModelConfig load_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  if (!std::filesystem::exists(path)) fail(path, ": not found (is '", dir, "' an HF model folder?)");
  return parse_config(read_file(path), path);
}

std::vector<double> ModelConfig::rope_inv_freq() const {
  const int64_t half = head_dim / 2;
  std::vector<double> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    inv[size_t(i)] = 1.0 / std::pow(rope_theta, double(2 * i) / double(head_dim));
  if (rope_scaling.enabled) {
    // HF modeling_rope_utils._compute_llama3_parameters: keep high frequencies, divide low ones by
    // `factor`, interpolate smoothly in between (by wavelength).
    const auto& s = rope_scaling;
    const double old_ctx = double(s.original_max_position_embeddings);
    const double low_wavelen = old_ctx / s.low_freq_factor;
    const double high_wavelen = old_ctx / s.high_freq_factor;
    for (auto& f : inv) {
      const double wavelen = 2 * std::numbers::pi / f;
      if (wavelen > low_wavelen) {
        f = f / s.factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth = (old_ctx / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        f = (1 - smooth) * f / s.factor + smooth * f;
      }
    }
  }
  return inv;
}

GenerationConfig load_generation_config(const std::string& dir) {
  GenerationConfig g;
  const std::string path = dir + "/generation_config.json";
  if (!std::filesystem::exists(path)) return g;
  Json j = read_json_file(path);
  if (!j.is_object()) fail(path, ": expected a JSON object");
  g.eos_token_id = parse_id_list(j, "eos_token_id", path);
  g.has_temperature = get_opt(j, "temperature", &g.temperature, path);
  g.has_top_p = get_opt(j, "top_p", &g.top_p, path);
  g.has_top_k = get_opt(j, "top_k", &g.top_k, path);
  g.has_repetition_penalty = get_opt(j, "repetition_penalty", &g.repetition_penalty, path);
  get_opt(j, "do_sample", &g.do_sample, path);
  return g;
}

}  // namespace slotlm::model
