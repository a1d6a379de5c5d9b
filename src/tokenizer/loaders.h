// SPDX-License-Identifier: MIT
// Tokenizer file readers (tokenizer layer): HF tokenizer.json, the "slow" vocab.json + merges.txt
// pair, Meta's tiktoken tokenizer.model, and tokenizer_config.json. Each throws Error naming file/field.
#pragma once

#include <string>

#include "tokenizer/bpe_tokenizer.h"

namespace slotlm::tok {

// HF tokenizers' serialized format (model type BPE only).
TokenizerParts read_tokenizer_json(const std::string& path);
// GPT-2-style files; Qwen2 pre-tokenization (NFC + Qwen2 regex) unless tokenizer_config.json names
// another class; added tokens from tokenizer_config.json `added_tokens_decoder`.
TokenizerParts read_vocab_merges(const std::string& dir);
// tiktoken ranks (`base64 rank` per line, rank = id), Llama-3 regex and its 256 special tokens.
TokenizerParts read_tiktoken(const std::string& path);
// Llama-3 special token text for `id` (128000 + k, k < 256), Llama-3.1 naming
// (HF meta-llama/Llama-3.1-8B-Instruct tokenizer_config.json).
std::string llama3_special_token(int k);
// Applies dir/tokenizer_config.json (bos/eos token, chat_template, and, when `take_added`, its
// added_tokens_decoder) and dir/chat_template.jinja. Missing files are fine.
void apply_tokenizer_config(const std::string& dir, bool take_added, TokenizerParts& parts);

}  // namespace slotlm::tok
