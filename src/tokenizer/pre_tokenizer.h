// SPDX-License-Identifier: MIT
// Pre-tokenizers of HF tokenizers (tokenizer layer): Split (PCRE2 regex or literal), ByteLevel,
// Metaspace, Digits, Sequence, built from tokenizer.json `pre_tokenizer`. Cut text into the pieces BPE sees.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/json_file.h"

namespace slotlm::tok {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits (and may rewrite) every piece of `pieces`, keeping their order. `first` says that
  // `pieces[0]` starts at offset 0 of the input (Metaspace prepend_scheme "first"). Thread-safe.
  virtual void pre_tokenize(std::vector<std::string>& pieces, bool first) const = 0;
};

// Split regex of Qwen2's tokenizer.json (also Qwen2.5 and DeepSeek-R1-Distill-Qwen).
extern const char* const kQwen2SplitRegex;
// Split regex of Llama-3's tokenizer.json and Meta's llama-models tokenizer.py (`\p{N}{1,3}`).
extern const char* const kLlama3SplitRegex;
// GPT-2 regex, used by the ByteLevel pre-tokenizer when `use_regex` is true (openai/gpt-2 encoder.py).
extern const char* const kGpt2SplitRegex;

// Split(regex, Isolated) followed by ByteLevel(add_prefix_space=false, use_regex=false): the
// pre-tokenizer of Qwen2 and Llama-3 tokenizer.json files.
std::unique_ptr<PreTokenizer> make_split_byte_level(const std::string& regex, const std::string& where);
// Builds from a tokenizer.json `pre_tokenizer` object; null JSON gives nullptr.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& j, const std::string& where);

}  // namespace slotlm::tok
