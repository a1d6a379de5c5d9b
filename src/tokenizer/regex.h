// SPDX-License-Identifier: MIT
// PCRE2 regex wrapper (tokenizer layer) for pre-tokenizer Split patterns and Replace normalizers:
// compiled in UTF|UCP mode (Unicode classes for \s \w \d, as HF tokenizers' Oniguruma), JIT when available.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slotlm::tok {

class Regex {
 public:
  // Compiles `pattern`; throws Error "`where`: invalid regex ..." on a syntax error.
  Regex(const std::string& pattern, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Byte ranges [begin, end) of all non-overlapping, non-empty matches, left to right.
  // `text` must be valid UTF-8. Thread-safe (match data is per call).
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;
  const std::string& pattern() const { return pattern_; }
  bool uses_jit() const { return jit_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

// A tokenizer.json `pattern`: either {"String": literal} or {"Regex": pcre}. Copyable.
class Pattern {
 public:
  static Pattern literal(std::string s);
  static Pattern regex(const std::string& pattern, const std::string& where);
  // Same contract as `Regex::find_all`; a literal matches its non-overlapping occurrences.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;
  bool is_regex() const { return regex_ != nullptr; }

 private:
  std::string literal_;
  std::shared_ptr<const Regex> regex_;
};

}  // namespace slotlm::tok
