// SPDX-License-Identifier: MIT
#include "tokenizer/added_vocab.h"

#include <utf8proc.h>

#include <algorithm>

#include "tokenizer/normalizer.h"
#include "tokenizer/utf8.h"

namespace slotlm::tok {
namespace {

// Rust `char::is_whitespace` (Unicode White_Space), which HF uses for lstrip/rstrip.
bool is_whitespace(char32_t c) {
  if (c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85) return true;
  if (c < 0x80) return false;
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

// HF `single_word` boundary test: alphanumeric or underscore.
bool is_word_char(char32_t c) {
  if (c == '_') return true;
  if (c < 0x80) return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
  return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
         (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

// Start of the code point that ends just before `pos`.
size_t prev_char_start(std::string_view s, size_t pos) {
  size_t i = pos - 1;
  while (i > 0 && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80) --i;
  return i;
}

char32_t char_at(std::string_view s, size_t i) { return utf8_next(s, i); }

}  // namespace

void AddedVocab::add(AddedToken t) {
  for (AddedToken& old : tokens_) {
    if (old.id == t.id) {
      by_content_.erase(old.content);
      old = t;
      by_content_[t.content] = t.id;
      return;
    }
  }
  by_content_[t.content] = t.id;
  tokens_.push_back(std::move(t));
}

void AddedVocab::insert(Trie& trie, std::string_view key, int32_t token_index) {
  if (key.empty()) return;
  if (trie.nodes.empty()) trie.nodes.emplace_back();
  trie.first_byte[static_cast<uint8_t>(key[0])] = true;
  int32_t node = 0;
  for (char ch : key) {
    const auto b = static_cast<uint8_t>(ch);
    int32_t child = -1;
    for (const auto& [nb, nn] : trie.nodes[node].next) {
      if (nb == b) child = nn;
    }
    if (child < 0) {
      child = static_cast<int32_t>(trie.nodes.size());
      trie.nodes[node].next.emplace_back(b, child);
      trie.nodes.emplace_back();
    }
    node = child;
  }
  if (trie.nodes[node].token < 0) trie.nodes[node].token = token_index;
}

void AddedVocab::finalize(const Normalizer* normalizer) {
  raw_trie_ = Trie{};
  normalized_trie_ = Trie{};
  for (size_t k = 0; k < tokens_.size(); ++k) {
    const AddedToken& t = tokens_[k];
    if (t.normalized) {
      std::string key = t.content;
      if (normalizer != nullptr) normalizer->normalize(key);
      insert(normalized_trie_, key, static_cast<int32_t>(k));
    } else {
      insert(raw_trie_, t.content, static_cast<int32_t>(k));
    }
  }
}

size_t AddedVocab::longest_match(const Trie& trie, std::string_view text, size_t pos,
                                 bool parse_special, int32_t& token_index) const {
  size_t best = 0;
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto b = static_cast<uint8_t>(text[i]);
    int32_t child = -1;
    for (const auto& [nb, nn] : trie.nodes[node].next) {
      if (nb == b) child = nn;
    }
    if (child < 0) break;
    node = child;
    const int32_t t = trie.nodes[node].token;
    if (t >= 0 && (parse_special || !tokens_[t].special)) {
      best = i + 1 - pos;
      token_index = t;
    }
  }
  return best;
}

void AddedVocab::split(std::string_view text, bool normalized_set, bool parse_special,
                       std::vector<Segment>& out) const {
  const Trie& trie = normalized_set ? normalized_trie_ : raw_trie_;
  size_t plain_start = 0;
  if (!trie.nodes.empty()) {
    for (size_t pos = 0; pos < text.size();) {
      if (!trie.first_byte[static_cast<uint8_t>(text[pos])]) {
        ++pos;
        continue;
      }
      int32_t ti = -1;
      const size_t len = longest_match(trie, text, pos, parse_special, ti);
      if (len == 0) {
        ++pos;
        continue;
      }
      const AddedToken& t = tokens_[ti];
      size_t b = pos, e = pos + len;
      if (t.single_word) {
        const bool left_ok = b == 0 || !is_word_char(char_at(text, prev_char_start(text, b)));
        const bool right_ok = e == text.size() || !is_word_char(char_at(text, e));
        if (!left_ok || !right_ok) {
          ++pos;
          continue;
        }
      }
      if (t.lstrip) {
        while (b > plain_start) {
          const size_t p = prev_char_start(text, b);
          if (!is_whitespace(char_at(text, p))) break;
          b = p;
        }
      }
      if (t.rstrip) {
        while (e < text.size()) {
          size_t q = e;
          if (!is_whitespace(utf8_next(text, q))) break;
          e = q;
        }
      }
      if (b > plain_start) out.push_back({plain_start, b, -1});
      out.push_back({b, e, t.id});
      plain_start = pos = e;
    }
  }
  if (plain_start < text.size()) out.push_back({plain_start, text.size(), -1});
}

const AddedToken* AddedVocab::find(int32_t id) const {
  for (const AddedToken& t : tokens_) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

int32_t AddedVocab::find(std::string_view content) const {
  auto it = by_content_.find(content);
  return it == by_content_.end() ? -1 : it->second;
}

int32_t AddedVocab::max_id() const {
  int32_t m = -1;
  for (const AddedToken& t : tokens_) m = std::max(m, t.id);
  return m;
}

}  // namespace slotlm::tok
