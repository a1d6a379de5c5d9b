// SPDX-License-Identifier: MIT
#include "tokenizer/bpe_tokenizer.h"

#include <algorithm>

#include "tokenizer/utf8.h"

namespace slotlm::tok {

BpeTokenizer::BpeTokenizer(TokenizerParts parts) : p_(std::move(parts)) {
  p_.model.finalize();
  p_.added.finalize(p_.normalizer.get());
  n_vocab_ = std::max(p_.model.n_vocab(), p_.added.max_id() + 1);
  added_index_.assign(n_vocab_, -1);
  const auto& toks = p_.added.tokens();
  for (size_t k = 0; k < toks.size(); ++k) added_index_[toks[k].id] = static_cast<int32_t>(k);
  if (!p_.bos_token.empty()) bos_id_ = token_id(p_.bos_token);
  // Without a configured BOS, the post-processor's leading special token plays that role.
  if (bos_id_ < 0 && !p_.prefix_ids.empty()) bos_id_ = p_.prefix_ids.front();
  if (bos_id_ >= 0 && p_.bos_token.empty()) {
    if (const AddedToken* t = added_token(bos_id_)) p_.bos_token = t->content;
  }
}

void BpeTokenizer::encode_plain(std::string_view text, bool at_start, bool parse_special,
                                std::vector<int32_t>& ids) const {
  // HF order: normalize the text between raw-matched added tokens, then match the `normalized`
  // added tokens in the normalized text, then pre-tokenize and run BPE on what is left.
  std::string norm(text);
  if (p_.normalizer) p_.normalizer->normalize(norm);
  std::vector<AddedVocab::Segment> segs;
  p_.added.split(norm, true, parse_special, segs);
  std::vector<std::string> pieces;
  for (const auto& s : segs) {
    if (s.id >= 0) {
      ids.push_back(s.id);
      continue;
    }
    pieces.assign(1, norm.substr(s.begin, s.end - s.begin));
    if (p_.pre_tokenizer) p_.pre_tokenizer->pre_tokenize(pieces, at_start && s.begin == 0);
    for (const std::string& piece : pieces) p_.model.encode(piece, ids);
  }
}

std::vector<int32_t> BpeTokenizer::encode(std::string_view text, const EncodeOptions& opt) const {
  // Invalid UTF-8 is repaired first: each maximal ill-formed subpart becomes U+FFFD (utf8.h), so
  // the regexes and normalizers only ever see valid text. Deterministic, never throws.
  std::string repaired;
  if (!utf8_is_valid(text)) {
    repaired = utf8_make_valid(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (opt.add_special) ids = p_.prefix_ids;
  std::vector<AddedVocab::Segment> segs;
  p_.added.split(text, false, opt.parse_special, segs);
  for (const auto& s : segs) {
    if (s.id >= 0) {
      ids.push_back(s.id);
    } else {
      encode_plain(text.substr(s.begin, s.end - s.begin), s.begin == 0, opt.parse_special, ids);
    }
  }
  if (opt.add_special) ids.insert(ids.end(), p_.suffix_ids.begin(), p_.suffix_ids.end());
  return ids;
}

std::string BpeTokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  // HF `TokenizerImpl::decode`: ids unknown to the vocabulary are skipped, added tokens give their
  // content, special ones are dropped with `skip_special`; then the decoder chain runs.
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (const AddedToken* t = added_token(id)) {
      if (!(skip_special && t->special)) tokens.push_back(t->content);
    } else if (const std::string* s = p_.model.id_to_token(id)) {
      tokens.push_back(*s);
    }
  }
  std::string text;
  if (p_.decoder) {
    p_.decoder->decode_chain(tokens);
    for (const std::string& t : tokens) text.append(t);
  } else {
    for (size_t k = 0; k < tokens.size(); ++k) {
      if (k > 0) text.push_back(' ');
      text.append(tokens[k]);
    }
  }
  // Byte-level tokens may end mid-character; the text returned is always valid UTF-8
  // (lossy repair with U+FFFD, as HF's String::from_utf8_lossy).
  if (!utf8_is_valid(text)) text = utf8_make_valid(text);
  return text;
}

bool BpeTokenizer::is_special(int32_t id) const {
  const AddedToken* t = added_token(id);
  return t != nullptr && t->special;
}

int32_t BpeTokenizer::token_id(std::string_view token) const {
  const int32_t a = p_.added.find(token);
  return a >= 0 ? a : p_.model.token_to_id(token);
}

}  // namespace slotlm::tok
