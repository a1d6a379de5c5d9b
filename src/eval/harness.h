// SPDX-License-Identifier: MIT
// The benchmark run loop (eval layer): prompt assembly with the chat template, baseline and SLOT
// modes on the same samples, per-sample scoring, the resumable JSONL log and a progress bar.
// Uses generate/ for decoding and slot/ for batched SLOT; knows nothing about the CLI.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/dataset.h"
#include "eval/run_log.h"
#include "generate/generate.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace slotlm::eval {

struct EvalOptions {
  Task task = Task::kGsm8k;
  std::vector<Sample> samples;     // the selection to run, in order
  std::string system_prompt;       // system turn; "" = no system message
  std::string chat_template;       // Jinja source rendered with add_generation_prompt
  gen::GenerateOptions gen;        // n_predict and sampling; `gen.slot` is the SLOT mode's options
  bool run_baseline = true;        // mode "baseline" (T = 0)
  bool run_slot = false;           // mode "slot" (gen.slot.steps > 0)
  int batch = 1;                   // samples decoding at once (continuous batching, gen::Decoder)
  bool progress = true;            // progress bar / lines on stderr
};

// One evaluation mode: its name and the key that identifies its configuration in the log.
struct Mode {
  std::string name;      // "baseline" | "slot"
  std::string key;       // "baseline" | "slot:T=5,lr=0.1,wd=1e-08,eps=1e-05,betas=0.9/0.999"
  slot::SlotOptions slot;
};
Mode baseline_mode();
Mode slot_mode(const slot::SlotOptions& opt);

// Renders the chat prompt (system + user turn, generation prompt) and tokenizes it without adding
// special tokens (HF apply_chat_template then tokenizer(..., add_special_tokens=False)).
std::vector<int32_t> build_prompt(const tok::Tokenizer& tk, const std::string& chat_template,
                                  const std::string& system_prompt, const std::string& question);

// Runs every (sample, mode) pair not already in `log` and appends its record as it finishes. Records hold: id,
// line, mode, mode_key, question, completion, finish, extracted, gold, correct, format_ok,
// strict[_correct], flexible[_correct], slot {loss[], loss_final, delta_norm, ms, plan, batch} or
// null, timings {prompt_ms, slot_ms, gen_ms, n_prompt, n_gen, wall_ms}, and "error" when the sample
// could not run (e.g. the prompt exceeds the context; scored incorrect).
void run_eval(const model::Model& m, const tok::Tokenizer& tk, const EvalOptions& opt, RunLog& log);

}  // namespace slotlm::eval
