// SPDX-License-Identifier: MIT
#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace slotlm::tok {
namespace {

// Code points above this one are never part of the byte-level alphabet (the last one is U+0143).
constexpr char32_t kMaxByteLevelCodePoint = 0x200;

struct ByteLevelTables {
  std::array<std::string, 256> byte_to_text;
  std::array<int16_t, kMaxByteLevelCodePoint> cp_to_byte;  // -1: not in the alphabet

  ByteLevelTables() {
    cp_to_byte.fill(-1);
    // openai/gpt-2 encoder.py `bytes_to_unicode`: printable Latin-1 bytes keep their code point,
    // the others take 256, 257, ... in byte order.
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t cp = keep ? static_cast<char32_t>(b) : next++;
      utf8_append(byte_to_text[b], cp);
      cp_to_byte[cp] = static_cast<int16_t>(b);
    }
  }
};

const ByteLevelTables& tables() {
  static const ByteLevelTables t;
  return t;
}

}  // namespace

std::string_view byte_to_unicode(uint8_t b) { return tables().byte_to_text[b]; }

void append_byte_level(std::string& out, std::string_view bytes) {
  const ByteLevelTables& t = tables();
  for (char c : bytes) out.append(t.byte_to_text[static_cast<uint8_t>(c)]);
}

bool byte_level_to_bytes(std::string_view text, std::string& out) {
  const ByteLevelTables& t = tables();
  for (size_t i = 0; i < text.size();) {
    const Utf8Step st = utf8_step(text, i);
    if (!st.valid) return false;
    const char32_t cp = utf8_next(text, i);
    if (cp >= kMaxByteLevelCodePoint || t.cp_to_byte[cp] < 0) return false;
    out.push_back(static_cast<char>(t.cp_to_byte[cp]));
  }
  return true;
}

}  // namespace slotlm::tok
