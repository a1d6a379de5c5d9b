// SPDX-License-Identifier: MIT
// GPT-2 byte-level alphabet (tokenizer layer): each byte 0..255 maps to one printable code point,
// as in openai/gpt-2 `bytes_to_unicode` and HF tokenizers' ByteLevel pre-tokenizer/decoder.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace slotlm::tok {

// UTF-8 text of the code point standing for byte `b` (1 or 2 bytes long).
std::string_view byte_to_unicode(uint8_t b);
// Appends the byte-level spelling of every byte of `bytes`.
void append_byte_level(std::string& out, std::string_view bytes);
// Maps a byte-level string back to raw bytes. Returns false (and leaves `out` unspecified) when a
// code point is not part of the byte-level alphabet.
bool byte_level_to_bytes(std::string_view text, std::string& out);

}  // namespace slotlm::tok
