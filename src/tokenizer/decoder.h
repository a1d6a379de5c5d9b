// SPDX-License-Identifier: MIT
// Decoders of HF tokenizers (tokenizer layer): ByteLevel, ByteFallback, Fuse, Strip, Replace,
// Metaspace, Sequence, built from tokenizer.json `decoder`. Turn token strings back into text.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/json_file.h"

namespace slotlm::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // HF `decode_chain`: rewrites the list of token strings. Strings may hold raw bytes that are not
  // UTF-8 yet (ByteLevel output); the caller repairs the final text. Thread-safe.
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// The ByteLevel decoder (Qwen2, Llama-3): byte-level code points back to raw bytes.
std::unique_ptr<Decoder> make_byte_level_decoder();
// Builds from a tokenizer.json `decoder` object; null JSON gives nullptr.
std::unique_ptr<Decoder> make_decoder(const Json& j, const std::string& where);

}  // namespace slotlm::tok
