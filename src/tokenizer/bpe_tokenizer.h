// SPDX-License-Identifier: MIT
// The concrete `Tokenizer` (tokenizer layer): added tokens -> normalizer -> pre-tokenizer -> BPE ->
// post-processor, and ids -> decoder -> text, in the order HF tokenizers' `TokenizerImpl` runs them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tokenizer/added_vocab.h"
#include "tokenizer/bpe.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace slotlm::tok {

// Everything a loader (tokenizer.json, vocab.json + merges.txt, tiktoken) fills in.
struct TokenizerParts {
  std::unique_ptr<Normalizer> normalizer;       // null: none
  std::unique_ptr<PreTokenizer> pre_tokenizer;  // null: the whole text is one piece
  Bpe model;
  AddedVocab added;
  std::unique_ptr<Decoder> decoder;  // null: tokens joined with spaces (HF without a decoder)
  std::vector<int32_t> prefix_ids;   // post-processor: ids put before the text with add_special
  std::vector<int32_t> suffix_ids;   // ... and after it
  std::string chat_template;
  std::string bos_token;  // "" when none
  std::string eos_token;  // "" when none
};

class BpeTokenizer : public Tokenizer {
 public:
  // Finalizes the parts (added-token matchers, BPE tables).
  explicit BpeTokenizer(TokenizerParts parts);

  std::vector<int32_t> encode(std::string_view text, const EncodeOptions& opt = {}) const override;
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const override;
  int32_t n_vocab() const override { return n_vocab_; }
  bool is_special(int32_t id) const override;
  int32_t bos_id() const override { return bos_id_; }
  int32_t token_id(std::string_view token) const override;
  const std::string& chat_template() const override { return p_.chat_template; }
  const std::string& bos_token() const override { return p_.bos_token; }
  const std::string& eos_token() const override { return p_.eos_token; }

  const TokenizerParts& parts() const { return p_; }

 private:
  void encode_plain(std::string_view text, bool at_start, bool parse_special,
                    std::vector<int32_t>& ids) const;
  const AddedToken* added_token(int32_t id) const {
    return id >= 0 && id < n_vocab_ && added_index_[id] >= 0 ? &p_.added.tokens()[added_index_[id]]
                                                             : nullptr;
  }

  TokenizerParts p_;
  int32_t n_vocab_ = 0;
  int32_t bos_id_ = -1;
  std::vector<int32_t> added_index_;  // [n_vocab] index into p_.added.tokens(), -1 if not added
};

}  // namespace slotlm::tok
