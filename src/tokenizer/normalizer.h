// SPDX-License-Identifier: MIT
// Normalizers of HF tokenizers (tokenizer layer): NFC/NFD/NFKC/NFKD, Lowercase, Prepend, Replace,
// Sequence, built from the `normalizer` object of tokenizer.json. Text in and out is valid UTF-8.
#pragma once

#include <memory>
#include <string>

#include "core/json_file.h"

namespace slotlm::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Rewrites `text` in place. Thread-safe.
  virtual void normalize(std::string& text) const = 0;
};

// Unicode normalization form C (utf8proc), the only normalizer Qwen2 uses.
std::unique_ptr<Normalizer> make_nfc_normalizer();
// Builds from a tokenizer.json `normalizer` object; null JSON gives nullptr. `where` names the
// file and field for errors (e.g. "tokenizer.json: normalizer").
std::unique_ptr<Normalizer> make_normalizer(const Json& j, const std::string& where);

}  // namespace slotlm::tok
