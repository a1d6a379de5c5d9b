// SPDX-License-Identifier: MIT
// UTF-8 helpers for the tokenizer layer: validation, lossy repair (U+FFFD), code-point iteration.
// Depends on the standard library only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace slotlm::tok {

inline constexpr char32_t kReplacementChar = 0xFFFD;  // U+FFFD REPLACEMENT CHARACTER
inline constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";

// One step of a UTF-8 scan at `s[i]`. `valid`: a well-formed sequence of `len` bytes. Otherwise
// `len` bytes form one "maximal subpart" of an ill-formed sequence (Unicode §3.9, the rule Rust's
// `from_utf8_lossy` and WHATWG use), to be replaced by one U+FFFD; `truncated` says the subpart
// is a valid prefix cut short by the end of `s` (more bytes could still complete it).
struct Utf8Step {
  uint32_t len;
  bool valid;
  bool truncated;
};
Utf8Step utf8_step(std::string_view s, size_t i);

bool utf8_is_valid(std::string_view s);
// Returns `s` with every maximal ill-formed subpart replaced by U+FFFD (`s` itself when valid).
std::string utf8_make_valid(std::string_view s);
// Number of bytes at the end of `s` that form a truncated-but-so-far-valid sequence (0..3).
size_t utf8_truncated_tail(std::string_view s);

// Decodes the code point at `s[i]` (which must be valid UTF-8) and advances `i` past it.
char32_t utf8_next(std::string_view s, size_t& i);
// Appends the UTF-8 encoding of `cp` (must be a Unicode scalar value).
void utf8_append(std::string& out, char32_t cp);
// Length in bytes of the valid sequence whose lead byte is `lead` (1 for ASCII and stray bytes).
inline size_t utf8_len_from_lead(uint8_t lead) {
  return lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
}

}  // namespace slotlm::tok
