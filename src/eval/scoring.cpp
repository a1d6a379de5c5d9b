// SPDX-License-Identifier: MIT
#include "eval/scoring.h"

#include "eval/answer.h"

namespace slotlm::eval {

Score score_completion(Task task, std::string_view completion, const std::string& gold) {
  Score s;
  const std::optional<std::string> g = gold;
  if (task == Task::kGsm8k) {
    s.extracted = last_number(completion);
    s.format_ok = has_think_answer_format(completion);
    s.strict = extract_strict(completion);
    s.flexible = extract_flexible(completion);
  } else {
    const std::optional<std::string> boxed = last_boxed(completion);
    s.format_ok = boxed.has_value();
    if (boxed) {
      s.strict = canonical_number(*boxed);
      s.extracted = last_number(*boxed);
    }
    if (!s.extracted) s.extracted = last_number(completion);
    s.flexible = last_number(completion);
  }
  s.correct = same_number(s.extracted, g);
  s.strict_correct = same_number(s.strict, g);
  s.flexible_correct = same_number(s.flexible, g);
  return s;
}

}  // namespace slotlm::eval
