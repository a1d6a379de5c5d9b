// SPDX-License-Identifier: MIT
// Options and helpers shared by the `slotlm` subcommands (cli layer): model/tokenizer loading,
// sampling and SLOT flags, prompt assembly, JSON output. Each subcommand registers itself.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "generate/generate.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace slotlm::cli {

// Flags every generating subcommand takes (run, chat, serve, eval).
struct CommonFlags {
  std::string model_dir;
  int threads = 0;  // 0 = all cores
  std::string precision;  // --precision: fast | exact | full; empty = the kernels' default
  // sampling
  double temp = 0.0, top_p = 1.0, min_p = 0.0, repeat_penalty = 1.0;
  int64_t top_k = 0;
  int64_t seed = -1;  // -1 = random
  int64_t n_predict = 128;
  // SLOT
  int slot_steps = 0;
  double slot_lr = 0.1, slot_wd = 1e-8, slot_eps = 1e-5;
  std::string slot_betas = "0.9,0.999";
  std::string slot_mem = "1G";
  std::string slot_path = "fast";
  std::string slot_load;
  // which of the sampling flags the user gave (the rest default from generation_config.json)
  CLI::Option *o_temp = nullptr, *o_top_p = nullptr, *o_top_k = nullptr, *o_rp = nullptr;
};

void add_model_flags(CLI::App& app, CommonFlags& f);
void add_sampling_flags(CLI::App& app, CommonFlags& f);
void add_slot_flags(CLI::App& app, CommonFlags& f);

// Loads the model named by -m and sets the thread count; logs load time to stderr.
// Checks the flags every model command shares (--threads, --seed, -n); throws Error naming the flag.
// load_model calls it first; serve calls it before it binds its port.
void check_common_flags(const CommonFlags& f);
std::unique_ptr<model::Model> load_model(const CommonFlags& f);
// Loads the tokenizer of the model folder; returns null (with a note) when it has none.
std::unique_ptr<tok::Tokenizer> load_tokenizer(const std::string& dir, bool required);

// Sampling params: generation_config.json defaults (when do_sample) overridden by given flags.
gen::SamplerParams sampling_params(const CommonFlags& f, const model::Model& m);
// SLOT options from the flags (validated); the delta of --slot-load when given.
slot::SlotOptions slot_options(const CommonFlags& f);
std::optional<std::vector<float>> loaded_delta(const CommonFlags& f, int64_t d_model);

// The --precision names, index = number of bf16 terms - 1 (kernels::set_bf16_gemm_terms).
inline constexpr const char* kPrecisionNames[3] = {"fast", "exact", "full"};

// Parses a size like "512M", "1G", "1024" (MiB when no suffix); throws Error naming `flag`.
size_t parse_size(const std::string& s, const std::string& flag);
// The --prompt-cache flag of serve and chat (default 256M), and its bytes ("0": no prompt cache).
void add_prompt_cache_flag(CLI::App& app, std::string& value);
size_t prompt_cache_bytes(const std::string& value);
// `text` itself when it is valid UTF-8; else throws Error naming `what` (a flag or file) and the
// offset of the first ill-formed byte. (The tokenizer would repair it into U+FFFD silently.)
std::string checked_utf8(std::string text, const std::string& what);
// The warning run and chat print when SLOT stopped at `diverged_step` (slot::SlotResult).
void warn_slot_diverged(int diverged_step, double lr, double weight_decay);

// Most threads --threads takes (0 = all cores).
inline constexpr int kMaxThreads = 1024;

// Parses space/comma separated ids; throws Error naming `flag`.
std::vector<int32_t> parse_ids(const std::string& s, const std::string& flag);

// Subcommand registration. Each lives in its own <name>_cmd.cpp; weak so that a subcommand whose
// file is not built yet is simply absent.
void register_run(CLI::App& app);
void register_tokenize(CLI::App& app);
void register_bench(CLI::App& app);
__attribute__((weak)) void register_chat(CLI::App& app);
__attribute__((weak)) void register_serve(CLI::App& app);
__attribute__((weak)) void register_eval(CLI::App& app);

}  // namespace slotlm::cli
