// SPDX-License-Identifier: MIT
#include "eval/answer.h"

#include <cctype>

namespace slotlm::eval {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Canonical form of sign + integer digits + fractional digits (all plain digits).
std::string make_canonical(bool negative, std::string_view int_digits, std::string_view frac_digits) {
  while (!int_digits.empty() && int_digits.front() == '0') int_digits.remove_prefix(1);
  while (!frac_digits.empty() && frac_digits.back() == '0') frac_digits.remove_suffix(1);
  std::string out;
  const bool zero = int_digits.empty() && frac_digits.empty();
  if (negative && !zero) out += '-';
  out += int_digits.empty() ? std::string_view("0") : int_digits;
  if (!frac_digits.empty()) {
    out += '.';
    out += frac_digits;
  }
  return out;
}

// Reads a number starting at `i` (a digit, or '.' before a digit) as `last_number` defines it;
// returns the end position and writes the digits of both parts.
size_t scan_number(std::string_view t, size_t i, std::string* int_digits, std::string* frac_digits) {
  const size_t n = t.size();
  size_t j = i;
  while (j < n && is_digit(t[j])) int_digits->push_back(t[j++]);
  // Thousands separators: ",ddd" not followed by another digit.
  while (!int_digits->empty() && j + 3 < n && t[j] == ',' && is_digit(t[j + 1]) && is_digit(t[j + 2]) &&
         is_digit(t[j + 3]) && (j + 4 == n || !is_digit(t[j + 4]))) {
    int_digits->append(t.substr(j + 1, 3));
    j += 4;
  }
  if (j + 1 < n && t[j] == '.' && is_digit(t[j + 1])) {
    ++j;
    while (j < n && is_digit(t[j])) frac_digits->push_back(t[j++]);
  }
  return j;
}

// True when the number starting at `start` carries a '-' sign ("-5", "-$5"; not "5-3").
bool has_minus(std::string_view t, size_t start) {
  size_t k = start;
  if (k > 0 && t[k - 1] == '$') --k;
  if (k == 0 || t[k - 1] != '-') return false;
  return k - 1 == 0 || !is_alnum(t[k - 2]);
}

std::optional<std::string> number_after(std::string_view t, size_t pos) {
  while (pos < t.size() && (t[pos] == ' ' || t[pos] == '\t' || t[pos] == ':')) ++pos;
  size_t end = pos;
  if (end < t.size() && t[end] == '-') ++end;
  if (end < t.size() && t[end] == '$') ++end;
  while (end < t.size() && (is_digit(t[end]) || t[end] == '.' || t[end] == ',')) ++end;
  std::string_view s = t.substr(pos, end - pos);
  while (!s.empty() && s.back() == '.') s.remove_suffix(1);  // sentence-ending period
  return canonical_number(s);
}

size_t find_icase(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    size_t k = 0;
    while (k < needle.size() && std::tolower(static_cast<unsigned char>(hay[i + k])) ==
                                    std::tolower(static_cast<unsigned char>(needle[k])))
      ++k;
    if (k == needle.size()) return i;
  }
  return std::string_view::npos;
}

}  // namespace

std::optional<std::string> canonical_number(std::string_view text) {
  std::string_view s = trim(text);
  bool negative = false;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (!s.empty() && s.front() == '$') s.remove_prefix(1);
  if (!s.empty() && s.back() == '%') s.remove_suffix(1);
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  std::string int_digits, frac_digits;
  size_t i = 0;
  for (; i < s.size() && s[i] != '.'; ++i) {
    if (is_digit(s[i])) int_digits += s[i];
    else if (s[i] != ',' || int_digits.empty()) return std::nullopt;  // commas only between digits
  }
  if (i < s.size()) {  // s[i] == '.'
    for (++i; i < s.size(); ++i) {
      if (!is_digit(s[i])) return std::nullopt;
      frac_digits += s[i];
    }
    if (frac_digits.empty()) return std::nullopt;
  }
  if (int_digits.empty() && frac_digits.empty()) return std::nullopt;
  return make_canonical(negative, int_digits, frac_digits);
}

std::optional<std::string> last_number(std::string_view t) {
  std::optional<std::string> last;
  size_t i = 0;
  while (i < t.size()) {
    const bool dot_start = t[i] == '.' && i + 1 < t.size() && is_digit(t[i + 1]) && (i == 0 || !is_digit(t[i - 1]));
    if (!is_digit(t[i]) && !dot_start) {
      ++i;
      continue;
    }
    std::string int_digits, frac_digits;
    const size_t end = scan_number(t, i, &int_digits, &frac_digits);
    last = make_canonical(has_minus(t, i), int_digits, frac_digits);
    i = end;
  }
  return last;
}

std::optional<std::string> gsm8k_gold(std::string_view answer_field) {
  const size_t p = answer_field.rfind("####");
  if (p == std::string_view::npos) return std::nullopt;
  return canonical_number(answer_field.substr(p + 4));
}

std::optional<std::string> extract_strict(std::string_view completion) {
  const size_t p = completion.find("####");
  if (p != std::string_view::npos) return number_after(completion, p + 4);
  constexpr std::string_view kCotPhrase = "the answer is";
  const size_t q = find_icase(completion, kCotPhrase);
  if (q != std::string_view::npos) return number_after(completion, q + kCotPhrase.size());
  return std::nullopt;
}

std::optional<std::string> extract_flexible(std::string_view t) {
  auto in_class = [](char c) { return is_digit(c) || c == '$' || c == '.' || c == ','; };
  std::string_view last;
  size_t i = 0;
  while (i < t.size()) {
    size_t j = i + (t[i] == '-' ? 1 : 0);
    size_t run = 0;
    while (j + run < t.size() && in_class(t[j + run])) ++run;
    if (run >= 2) {  // first alternative: -?[$0-9.,]{2,}
      last = t.substr(i, j + run - i);
      i = j + run;
      continue;
    }
    size_t d = 0;  // second alternative: -?[0-9]+
    while (j + d < t.size() && is_digit(t[j + d])) ++d;
    if (d >= 1) {
      last = t.substr(i, j + d - i);
      i = j + d;
      continue;
    }
    ++i;
  }
  if (last.empty()) return std::nullopt;
  std::string cleaned;
  for (char c : last)
    if (c != '$' && c != ',') cleaned += c;
  while (!cleaned.empty() && cleaned.back() == '.') cleaned.pop_back();
  return canonical_number(cleaned);
}

std::optional<std::string> last_boxed(std::string_view t) {
  constexpr std::string_view kBoxed = "\\boxed{";
  const size_t p = t.rfind(kBoxed);
  if (p == std::string_view::npos) return std::nullopt;
  int depth = 1;
  const size_t start = p + kBoxed.size();
  for (size_t i = start; i < t.size(); ++i) {
    if (t[i] == '{') ++depth;
    else if (t[i] == '}' && --depth == 0) return std::string(t.substr(start, i - start));
  }
  return std::nullopt;  // unbalanced: the completion was cut off inside the box
}

bool has_think_answer_format(std::string_view completion) {
  constexpr std::string_view kThink = "<think>", kThinkEnd = "</think>", kAnswer = "<answer>",
                             kAnswerEnd = "</answer>";
  const std::string_view s = trim(completion);
  if (!s.starts_with(kThink) || !s.ends_with(kAnswerEnd)) return false;
  // As the regex ^<think>.*?</think>\s*<answer>.*?</answer>$ with backtracking: any "</think>"
  // directly followed (after whitespace) by "<answer>" that ends before the final "</answer>".
  for (size_t p = s.find(kThinkEnd, kThink.size()); p != std::string_view::npos; p = s.find(kThinkEnd, p + 1)) {
    size_t q = p + kThinkEnd.size();
    while (q < s.size() && is_space(s[q])) ++q;
    if (s.substr(q).starts_with(kAnswer) && q + kAnswer.size() + kAnswerEnd.size() <= s.size()) return true;
  }
  return false;
}

}  // namespace slotlm::eval
