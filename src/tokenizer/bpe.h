// SPDX-License-Identifier: MIT
// BPE model (tokenizer layer): vocabulary, merge ranks and the merge loop of HF tokenizers' `BPE`
// (merges list), or tiktoken's rank rule (Llama-3 tokenizer.model: merge the adjacent pair whose
// concatenation has the lowest rank). Knows nothing of regexes or special tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace slotlm::tok {

struct BpeConfig {
  bool byte_fallback = false;  // a character missing from the vocab becomes its <0xXX> byte tokens
  bool ignore_merges = false;  // a piece that is itself a token is emitted whole (Llama-3)
  bool fuse_unk = false;       // consecutive unknown characters give one `unk_id`
  bool rank_merges = false;    // tiktoken rule: no merges list, the pair rank is the id of a+b
  int32_t unk_id = -1;         // id for unknown characters; -1 drops them (as HF does without unk)
};

// Hash for string keys that also accepts string_view lookups without a copy.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class Bpe {
 public:
  explicit Bpe(BpeConfig cfg = {}) : cfg_(cfg) {}

  // Adds vocabulary entry `text` -> `id` (id >= 0). Returns false if `text` is already present.
  bool add_token(std::string text, int32_t id);
  // Adds merge `left right` with priority `rank` (lower merges first). Returns false when a part
  // or the concatenation is not in the vocabulary. Call after all `add_token`.
  bool add_merge(std::string_view left, std::string_view right, int32_t rank);
  void set_config(const BpeConfig& cfg) { cfg_ = cfg; }
  const BpeConfig& config() const { return cfg_; }
  // Builds the lookup tables; call once after the vocabulary is complete.
  void finalize();

  // Appends the ids of one pre-tokenized piece to `out`. Thread-safe.
  void encode(std::string_view piece, std::vector<int32_t>& out) const;
  // Reserves room for `n` vocabulary entries (speeds up loading).
  void reserve(size_t n);

  int32_t token_to_id(std::string_view text) const;
  // Token text of `id`, nullptr when `id` is not in the vocabulary.
  const std::string* id_to_token(int32_t id) const;
  int32_t n_vocab() const { return static_cast<int32_t>(id_to_token_.size()); }  // max id + 1
  size_t n_merges() const { return merges_.size(); }

 private:
  struct Merge {
    int32_t rank;
    int32_t result;
  };
  bool find_merge(int32_t left, int32_t right, Merge& m) const;
  int32_t char_to_id(std::string_view ch, char32_t cp) const;
  void push_initial_symbols(std::string_view piece, std::vector<int32_t>& syms) const;
  void merge_piece(std::string_view piece, std::vector<int32_t>& out) const;

  // Cache of merged pieces (HF BPE keeps one too): natural text repeats its words, and a lookup
  // is far cheaper than the merge loop. Sharded so concurrent encodes rarely share a lock; a
  // shard is simply cleared when full. Results are identical with or without it.
  static constexpr size_t kCacheShards = 16;
  static constexpr size_t kCacheEntriesPerShard = 2048;
  // Longer pieces are rare and not cached (byte-level spelling doubles non-ASCII bytes: 128 bytes
  // hold about 21 CJK characters).
  static constexpr size_t kCacheMaxPieceBytes = 128;
  struct CacheShard {
    std::mutex mu;
    std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> map;
  };
  mutable std::unique_ptr<CacheShard[]> cache_ = std::make_unique<CacheShard[]>(kCacheShards);

  BpeConfig cfg_;
  TokenMap vocab_;
  std::vector<std::string> id_to_token_;
  std::vector<uint8_t> has_id_;
  std::unordered_map<uint64_t, Merge> merges_;  // key: left id << 32 | right id
  // Id of each single-code-point token of the Basic Multilingual Plane (-1: none): the initial
  // symbols are found without hashing.
  std::vector<int32_t> bmp_char_id_;
  int32_t byte_token_id_[256];  // id of "<0xXX>" tokens for byte_fallback, -1 when absent
};

}  // namespace slotlm::tok
