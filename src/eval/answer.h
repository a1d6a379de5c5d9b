// SPDX-License-Identifier: MIT
// Answer extraction and scoring for the math benchmarks (eval layer): numbers in free text, the
// GSM8K gold after `####`, lm-eval style strict/flexible extractions, `\boxed{}` and the format check.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace slotlm::eval {

// A number in canonical decimal form: optional '-', integer digits without leading zeros, and
// fractional digits without trailing zeros ("18.50" -> "18.5", "025" -> "25", "-0.0" -> "0").
// Two numbers are numerically equal exactly when their canonical strings are equal.
std::optional<std::string> canonical_number(std::string_view text);

// The last number in `text` (the reference's rule): digits with optional thousands separators
// (a comma followed by exactly three digits), an optional decimal part, and a '-' sign when the
// character before it is not a letter or digit ("5-3" gives 3). A '$' or '%' around it and a
// trailing period are not part of it. Returns the canonical form, nullopt when there is none.
std::optional<std::string> last_number(std::string_view text);

// GSM8K gold answer: the text after the last "####" of the `answer` field, as a canonical number.
std::optional<std::string> gsm8k_gold(std::string_view answer_field);

// lm-eval "strict-match": the number right after "#### " (gsm8k task), else after "The answer is"
// (gsm8k-cot, case-insensitive); first occurrence; '$' and thousands commas allowed.
std::optional<std::string> extract_strict(std::string_view completion);

// lm-eval "flexible-extract": the last match of `(-?[$0-9.,]{2,})|(-?[0-9]+)`, with '$', ','
// and a trailing '.' removed; nullopt when what is left is not a number.
std::optional<std::string> extract_flexible(std::string_view completion);

// Content of the last `\boxed{...}` (brace-balanced), nullopt when there is none.
std::optional<std::string> last_boxed(std::string_view completion);

// `<think> ... </think><answer> ... </answer>` (the reference system prompt's format), with
// optional whitespace around and between the two blocks and nothing else.
bool has_think_answer_format(std::string_view completion);

// Numeric equality of two canonical numbers (plain string equality, named for the call sites).
inline bool same_number(const std::optional<std::string>& a, const std::optional<std::string>& b) {
  return a && b && *a == *b;
}

}  // namespace slotlm::eval
