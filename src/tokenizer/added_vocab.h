// SPDX-License-Identifier: MIT
// Added and special tokens (tokenizer layer): matched as literal strings in the text before the
// normalizer/pre-tokenizer run, as HF tokenizers' `AddedVocabulary` does (leftmost-longest match).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/bpe.h"

namespace slotlm::tok {

class Normalizer;

// One entry of tokenizer.json `added_tokens` / tokenizer_config.json `added_tokens_decoder`.
struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool special = false;      // dropped by decode(skip_special); not matched when parse_special=false
  bool lstrip = false;       // the match also swallows the whitespace before it
  bool rstrip = false;       // ... and the whitespace after it
  bool normalized = false;   // matched in the normalized text (its content normalized too)
  bool single_word = false;  // matched only when not touching a word character on either side
};

class AddedVocab {
 public:
  // Adds or replaces (same id) an added token.
  void add(AddedToken t);
  // Builds the matchers; `normalizer` (may be null) is applied to the content of `normalized`
  // tokens, as HF does. Call after the last `add`.
  void finalize(const Normalizer* normalizer);

  struct Segment {
    size_t begin, end;  // byte range in the text
    int32_t id;         // the added token's id, or -1 for plain text
  };
  // Cuts `text` into added-token matches and the plain text between them. `normalized_set` picks
  // the tokens with `normalized` true (matched after normalization) or false (matched in raw text).
  // With `parse_special` false, special tokens are not matched (HF `encode_special_tokens`).
  void split(std::string_view text, bool normalized_set, bool parse_special,
             std::vector<Segment>& out) const;

  const AddedToken* find(int32_t id) const;
  int32_t find(std::string_view content) const;  // -1 when absent
  const std::vector<AddedToken>& tokens() const { return tokens_; }
  bool empty() const { return tokens_.empty(); }
  int32_t max_id() const;  // -1 when empty

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> next;  // byte -> child node
    int32_t token = -1;                              // index into tokens_ ending here
  };
  struct Trie {
    std::vector<Node> nodes;
    bool first_byte[256] = {};
  };
  void insert(Trie& trie, std::string_view key, int32_t token_index);
  size_t longest_match(const Trie& trie, std::string_view text, size_t pos, bool parse_special,
                       int32_t& token_index) const;

  std::vector<AddedToken> tokens_;
  TokenMap by_content_;
  Trie raw_trie_, normalized_trie_;
};

}  // namespace slotlm::tok
