// SPDX-License-Identifier: MIT
#include "tokenizer/utf8.h"

namespace slotlm::tok {

Utf8Step utf8_step(std::string_view s, size_t i) {
  const auto c = static_cast<uint8_t>(s[i]);
  if (c < 0x80) return {1, true, false};
  // Well-formed byte sequences, Unicode Table 3-7: allowed range of the second byte per lead byte.
  uint32_t n_cont = 0;
  uint8_t lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n_cont = 1;
  } else if (c == 0xE0) {
    n_cont = 2, lo = 0xA0;
  } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
    n_cont = 2;
  } else if (c == 0xED) {
    n_cont = 2, hi = 0x9F;
  } else if (c == 0xF0) {
    n_cont = 3, lo = 0x90;
  } else if (c >= 0xF1 && c <= 0xF3) {
    n_cont = 3;
  } else if (c == 0xF4) {
    n_cont = 3, hi = 0x8F;
  } else {
    return {1, false, false};
  }
  for (uint32_t k = 1; k <= n_cont; ++k) {
    if (i + k >= s.size()) return {k, false, true};
    const auto b = static_cast<uint8_t>(s[i + k]);
    const bool ok = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) return {k, false, false};
  }
  return {n_cont + 1, true, false};
}

bool utf8_is_valid(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const Utf8Step st = utf8_step(s, i);
    if (!st.valid) return false;
    i += st.len;
  }
  return true;
}

std::string utf8_make_valid(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const Utf8Step st = utf8_step(s, i);
    if (st.valid) {
      out.append(s.substr(i, st.len));
    } else {
      out.append(kReplacementUtf8);
    }
    i += st.len;
  }
  return out;
}

size_t utf8_truncated_tail(std::string_view s) {
  // A truncated sequence is at most 3 bytes long, so only the last 3 lead positions can start it.
  const size_t first = s.size() > 3 ? s.size() - 3 : 0;
  for (size_t i = first; i < s.size(); ++i) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0xC0) continue;
    const Utf8Step st = utf8_step(s, i);
    if (st.truncated) return s.size() - i;
  }
  return 0;
}

char32_t utf8_next(std::string_view s, size_t& i) {
  const auto c = static_cast<uint8_t>(s[i]);
  if (c < 0x80) {
    ++i;
    return c;
  }
  const size_t n = utf8_len_from_lead(c);
  char32_t cp = n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < n && i + k < s.size(); ++k) {
    cp = (cp << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3F);
  }
  i += n;
  return cp;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace slotlm::tok
