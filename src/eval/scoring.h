// SPDX-License-Identifier: MIT
// Per-task scoring of one completion (eval layer): which extraction decides correctness, which
// format counts, and each task's default prompt. Built on answer.h; no engine dependencies.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "eval/dataset.h"

namespace slotlm::eval {

// AIME24 system prompt: the chain-of-thought prompt of Qwen2.5-Math's evaluation ("qwen25-math-cot"),
// the repository the data comes from (../shared/data/aime24/SOURCE.md). The answer is read from the
// last \boxed{}.
inline constexpr std::string_view kAimeSystemPrompt =
    "Please reason step by step, and put your final answer within \\boxed{}.";

struct Score {
  std::optional<std::string> extracted;  // canonical number that decides `correct`
  std::optional<std::string> strict;     // lm-eval strict-match (gsm8k) / the \boxed{} content (aime24)
  std::optional<std::string> flexible;   // lm-eval flexible-extract (gsm8k) / last number (aime24)
  bool correct = false;                  // extracted == gold, numerically
  bool format_ok = false;                // <think>..</think><answer>..</answer> (gsm8k) / has \boxed{} (aime24)
  bool strict_correct = false, flexible_correct = false;
};

// gsm8k: `extracted` = the last number of the whole completion (the SLOT reference's rule).
// aime24: the last number inside the last \boxed{}, else the last number of the completion; AIME
// answers are integers 0..999 written with leading zeros ("025"), compared numerically.
Score score_completion(Task task, std::string_view completion, const std::string& gold);

}  // namespace slotlm::eval
