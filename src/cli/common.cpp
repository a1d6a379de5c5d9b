// SPDX-License-Identifier: MIT
#include "cli/common.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <random>
#include <sstream>

#include "core/error.h"
#include "core/log.h"
#include "core/npy.h"
#include "core/threads.h"
#include "core/timer.h"
#include "kernels/matmul.h"
#include "tokenizer/utf8.h"

namespace slotlm::cli {

void add_model_flags(CLI::App& app, CommonFlags& f) {
  app.add_option("-m,--model", f.model_dir, "HF model folder (config.json, *.safetensors, tokenizer)")->required();
  app.add_option("-t,--threads", f.threads, "threads (0 = all cores)")->capture_default_str();
  app.add_option("--precision", f.precision,
                 "bf16 weights' matmuls (prefill; decode too on AMX): fast (activations rounded to bf16, as "
                 "PyTorch's bf16 model and llama.cpp do; with AMX prefill attention in bf16 too), exact (2 bf16 "
                 "terms, ~1e-5 relative; default) or full (3 terms, f32 level)");
}

void warn_slot_diverged(int diverged_step, double lr, double weight_decay) {
  log_info("slot: warning: step ", diverged_step, " made the loss non-finite (--slot-lr ", lr, ", --slot-wd ",
           weight_decay, " too large?); kept the delta of step ", diverged_step - 1);
}

std::string checked_utf8(std::string text, const std::string& what) {
  for (size_t i = 0; i < text.size();) {
    const tok::Utf8Step st = tok::utf8_step(text, i);
    if (!st.valid) fail(what, ": not valid UTF-8 (byte ", i, " starts an ill-formed sequence)");
    i += st.len;
  }
  return text;
}

void add_sampling_flags(CLI::App& app, CommonFlags& f) {
  app.add_option("-n,--n-predict", f.n_predict, "max new tokens")->capture_default_str();
  f.o_temp = app.add_option("--temp", f.temp, "temperature; 0 = greedy (default: generation_config.json, else 0)");
  f.o_top_k = app.add_option("--top-k", f.top_k, "top-k; 0 = off");
  f.o_top_p = app.add_option("--top-p", f.top_p, "top-p; 1 = off");
  app.add_option("--min-p", f.min_p, "min-p; 0 = off")->capture_default_str();
  f.o_rp = app.add_option("--repeat-penalty", f.repeat_penalty, "repetition penalty; 1 = off");
  // CLI11 would saturate a number past int64 (99999999999999999999 ran as 2^63 - 1): the text is
  // checked first.
  app.add_option("--seed", f.seed, "RNG seed; -1 = random")
      ->capture_default_str()
      ->check([](const std::string& v) -> std::string {
        int64_t x = 0;
        const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
        if (ec == std::errc::result_out_of_range) return "must fit in 64 bits (at most 9223372036854775807)";
        if (ec != std::errc() || end != v.data() + v.size()) return "must be an integer";
        return "";
      });
}

void add_slot_flags(CLI::App& app, CommonFlags& f) {
  app.add_option("--slot-steps", f.slot_steps, "SLOT AdamW steps T; 0 = off")->capture_default_str();
  app.add_option("--slot-lr", f.slot_lr, "SLOT learning rate")->capture_default_str();
  app.add_option("--slot-wd", f.slot_wd, "SLOT weight decay")->capture_default_str();
  app.add_option("--slot-eps", f.slot_eps, "SLOT AdamW eps")->capture_default_str();
  app.add_option("--slot-betas", f.slot_betas, "SLOT AdamW betas 'b1,b2'")->capture_default_str();
  app.add_option("--slot-mem", f.slot_mem, "memory budget for cached prompt logits (e.g. 512M, 1G)")->capture_default_str();
  app.add_option("--slot-path", f.slot_path, "fast | reference")->capture_default_str();
  app.add_option("--slot-load", f.slot_load, "use this delta (.npy float32 [d_model]) instead of optimising");
}

namespace {
// " (N MiB of it laid out as AMX tiles in T ms)" when the load did that, else "".
std::string layout_note(const model::Weights& w) {
  if (w.layout.size() == 0) return "";
  return " (" + std::to_string(w.layout.size() >> 20) + " MiB of it laid out as " + w.layout_name + " in " +
         std::to_string(int(w.layout_ms)) + " ms)";
}
}  // namespace

void check_common_flags(const CommonFlags& f) {
  if (f.threads < 0 || f.threads > kMaxThreads)
    fail("--threads must be in [0, ", kMaxThreads, "] (0 = all cores), got ", f.threads);
  if (f.seed < -1) fail("--seed must be -1 (random) or >= 0, got ", f.seed);
  if (f.n_predict < 0) fail("-n must be >= 0, got ", f.n_predict);
}

std::unique_ptr<model::Model> load_model(const CommonFlags& f) {
  check_common_flags(f);
  if (!f.precision.empty()) {
    const auto* it = std::find(std::begin(kPrecisionNames), std::end(kPrecisionNames), f.precision);
    if (it == std::end(kPrecisionNames)) fail("--precision must be fast, exact or full, got '", f.precision, "'");
    kernels::set_bf16_gemm_terms(int(it - std::begin(kPrecisionNames)) + 1);
  }
  const int n_thr = set_threads(f.threads);
  Timer t;
  auto m = model::Model::load(f.model_dir);
  const auto& c = m->config();
  log_info("slotlm: loaded ", c.architecture, " from ", f.model_dir, " (", c.num_hidden_layers, " layers, d_model ",
           c.hidden_size, ", vocab ", c.vocab_size, ", ", dtype_name(m->weights().dtype), ", ",
           m->weights().store->total_bytes() / (1024 * 1024), " MiB ", m->weights().store->residence(), ") in ",
           int(t.ms()), " ms", layout_note(m->weights()), ", ", n_thr, " threads");
  return m;
}

std::unique_ptr<tok::Tokenizer> load_tokenizer(const std::string& dir, bool required) {
  namespace fs = std::filesystem;
  const bool present = fs::exists(dir + "/tokenizer.json") || fs::exists(dir + "/vocab.json") ||
                       fs::exists(dir + "/tokenizer.model");
  if (!present) {
    if (required) fail(dir, ": no tokenizer (tokenizer.json, vocab.json + merges.txt or tokenizer.model)");
    log_info("slotlm: ", dir, " has no tokenizer; text output is empty");
    return nullptr;
  }
  return tok::Tokenizer::load(dir);
}

gen::SamplerParams sampling_params(const CommonFlags& f, const model::Model& m) {
  gen::SamplerParams p;
  const auto& g = m.generation_config();
  if (g.do_sample) {  // HF: sampling defaults apply only when do_sample is set
    if (g.has_temperature) p.temperature = g.temperature;
    if (g.has_top_p) p.top_p = g.top_p;
    if (g.has_top_k) p.top_k = g.top_k;
  }
  if (g.has_repetition_penalty) p.repeat_penalty = g.repetition_penalty;
  if (f.o_temp && f.o_temp->count()) p.temperature = f.temp;
  if (f.o_top_p && f.o_top_p->count()) p.top_p = f.top_p;
  if (f.o_top_k && f.o_top_k->count()) p.top_k = f.top_k;
  if (f.o_rp && f.o_rp->count()) p.repeat_penalty = f.repeat_penalty;
  p.min_p = f.min_p;
  if (f.seed < 0) {
    p.seed = std::random_device{}();
    if (p.temperature > 0) log_info("slotlm: seed ", p.seed);
  } else {
    p.seed = uint64_t(f.seed);
  }
  gen::validate(p);
  return p;
}

slot::SlotOptions slot_options(const CommonFlags& f) {
  slot::SlotOptions o;
  o.steps = f.slot_steps;
  o.adam.lr = f.slot_lr;
  o.adam.weight_decay = f.slot_wd;
  o.adam.eps = f.slot_eps;
  const auto comma = f.slot_betas.find(',');
  if (comma == std::string::npos) fail("--slot-betas must be 'b1,b2' (got '", f.slot_betas, "')");
  try {
    size_t used1 = 0, used2 = 0;
    o.adam.beta1 = std::stod(f.slot_betas.substr(0, comma), &used1);
    o.adam.beta2 = std::stod(f.slot_betas.substr(comma + 1), &used2);
    if (used1 != comma || used2 != f.slot_betas.size() - comma - 1) throw std::invalid_argument("");
  } catch (const std::logic_error&) {
    fail("--slot-betas must be two numbers 'b1,b2' (got '", f.slot_betas, "')");
  }
  o.mem_budget = parse_size(f.slot_mem, "--slot-mem");
  if (f.slot_path == "fast") o.path = slot::Path::kFast;
  else if (f.slot_path == "reference") o.path = slot::Path::kReference;
  else fail("--slot-path must be 'fast' or 'reference' (got '", f.slot_path, "')");
  slot::validate(o);
  return o;
}

std::optional<std::vector<float>> loaded_delta(const CommonFlags& f, int64_t d_model) {
  if (f.slot_load.empty()) return std::nullopt;
  NpyArray a = read_npy_f32(f.slot_load);
  if (a.shape.size() != 1 || a.shape[0] != d_model)
    fail(f.slot_load, ": delta must have shape [", d_model, "] (the model's d_model)");
  for (float v : a.data)
    if (!std::isfinite(v)) fail(f.slot_load, ": delta holds a non-finite value");
  return a.data;
}

size_t parse_size(const std::string& s, const std::string& flag) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::logic_error&) {
    fail(flag, " must be a size like 512M or 1G (got '", s, "')");
  }
  std::string suffix = s.substr(used);
  double mult = 1024.0 * 1024.0;
  if (suffix == "K" || suffix == "k") mult = 1024.0;
  else if (suffix == "G" || suffix == "g") mult = 1024.0 * 1024.0 * 1024.0;
  else if (!(suffix.empty() || suffix == "M" || suffix == "m")) fail(flag, ": unknown size suffix '", suffix, "'");
  if (!(v > 0) || !std::isfinite(v)) fail(flag, " must be > 0 (got '", s, "')");
  return size_t(v * mult);
}

void add_prompt_cache_flag(CLI::App& app, std::string& value) {
  value = "256M";
  app.add_option("--prompt-cache", value,
                 "memory for the KV rows of finished replies, which a later prompt with the same start "
                 "(the next turn, a shared system prompt) reuses instead of prefilling; 0 = off")
      ->capture_default_str();
}

size_t prompt_cache_bytes(const std::string& value) {
  if (value == "0") return 0;
  if (!value.empty() && value[0] == '-') fail("--prompt-cache must be a size like 256M, or 0 to turn it off (got '", value, "')");
  return parse_size(value, "--prompt-cache");
}

std::vector<int32_t> parse_ids(const std::string& s, const std::string& flag) {
  std::vector<int32_t> ids;
  std::string tok;
  std::istringstream in(s);
  auto push = [&](const std::string& t) {
    if (t.empty()) return;
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(t, &used);
    } catch (const std::logic_error&) {
      used = 0;
    }
    if (used != t.size() || v < 0 || v > INT32_MAX) fail(flag, ": '", t, "' is not a token id");
    ids.push_back(int32_t(v));
  };
  while (in >> tok) {
    size_t start = 0, comma;
    while ((comma = tok.find(',', start)) != std::string::npos) {
      push(tok.substr(start, comma - start));
      start = comma + 1;
    }
    push(tok.substr(start));
  }
  return ids;
}

}  // namespace slotlm::cli
