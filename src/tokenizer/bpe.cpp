// SPDX-License-Identifier: MIT
#include "tokenizer/bpe.h"

#include <algorithm>
#include <cstdio>

#include "tokenizer/utf8.h"

namespace slotlm::tok {
namespace {

constexpr char32_t kBmpSize = 0x10000;

uint64_t pair_key(int32_t l, int32_t r) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r);
}

// One symbol of the word being merged: a doubly linked list over the initial characters.
struct Symbol {
  int32_t id;    // -1 once merged into its left neighbour
  int32_t prev;  // index of the previous live symbol, -1 at the start
  int32_t next;  // index of the next live symbol, -1 at the end
};

// A candidate merge of the pair starting at symbol `pos`; stale when the pair changed since.
struct Candidate {
  int32_t rank;
  int32_t pos;
  int32_t left;
  int32_t right;
  int32_t result;
};
// Min-heap order: lowest rank first, then leftmost (HF BPE `Word::merge_all` tie-break).
struct CandidateAfter {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  }
};

}  // namespace

bool Bpe::add_token(std::string text, int32_t id) {
  if (id < 0) return false;
  if (!vocab_.emplace(text, id).second) return false;
  if (static_cast<size_t>(id) >= id_to_token_.size()) {
    id_to_token_.resize(id + 1);
    has_id_.resize(id + 1, 0);
  }
  id_to_token_[id] = std::move(text);
  has_id_[id] = 1;
  return true;
}

bool Bpe::add_merge(std::string_view left, std::string_view right, int32_t rank) {
  const int32_t l = token_to_id(left), r = token_to_id(right);
  if (l < 0 || r < 0) return false;
  std::string joined;
  joined.reserve(left.size() + right.size());
  joined.append(left).append(right);
  const int32_t res = token_to_id(joined);
  if (res < 0) return false;
  // The first occurrence of a pair wins, as with HF (a later duplicate could only lower priority).
  merges_.emplace(pair_key(l, r), Merge{rank, res});
  return true;
}

void Bpe::finalize() {
  bmp_char_id_.assign(kBmpSize, -1);
  for (const auto& [text, id] : vocab_) {
    if (text.empty()) continue;
    const Utf8Step st = utf8_step(text, 0);
    if (!st.valid || st.len != text.size()) continue;
    size_t i = 0;
    const char32_t cp = utf8_next(text, i);
    if (cp < kBmpSize) bmp_char_id_[cp] = id;
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    byte_token_id_[b] = token_to_id(name);
  }
}

int32_t Bpe::token_to_id(std::string_view text) const {
  auto it = vocab_.find(text);
  return it == vocab_.end() ? -1 : it->second;
}

const std::string* Bpe::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() || !has_id_[id]) return nullptr;
  return &id_to_token_[id];
}

bool Bpe::find_merge(int32_t left, int32_t right, Merge& m) const {
  if (cfg_.rank_merges) {
    // tiktoken: the rank of a pair is the rank (= id) of the concatenated token, if it exists.
    thread_local std::string joined;
    joined.assign(id_to_token_[left]).append(id_to_token_[right]);
    const int32_t id = token_to_id(joined);
    if (id < 0) return false;
    m = Merge{id, id};
    return true;
  }
  auto it = merges_.find(pair_key(left, right));
  if (it == merges_.end()) return false;
  m = it->second;
  return true;
}

int32_t Bpe::char_to_id(std::string_view ch, char32_t cp) const {
  if (cp < kBmpSize && !bmp_char_id_.empty()) return bmp_char_id_[cp];
  return token_to_id(ch);
}

void Bpe::push_initial_symbols(std::string_view piece, std::vector<int32_t>& syms) const {
  bool last_unk = false;
  for (size_t i = 0; i < piece.size();) {
    const size_t start = i;
    const char32_t cp = utf8_next(piece, i);
    const std::string_view ch = piece.substr(start, i - start);
    const int32_t id = char_to_id(ch, cp);
    if (id >= 0) {
      syms.push_back(id);
      last_unk = false;
      continue;
    }
    if (cfg_.byte_fallback) {
      bool all = true;
      for (char c : ch) all = all && byte_token_id_[static_cast<uint8_t>(c)] >= 0;
      if (all) {
        for (char c : ch) syms.push_back(byte_token_id_[static_cast<uint8_t>(c)]);
        last_unk = false;
        continue;
      }
    }
    if (cfg_.unk_id < 0) continue;  // HF BPE drops the character when there is no unk token
    if (!(cfg_.fuse_unk && last_unk)) syms.push_back(cfg_.unk_id);
    last_unk = true;
  }
}

void Bpe::reserve(size_t n) {
  vocab_.reserve(n);
  merges_.reserve(n);
  id_to_token_.reserve(n);
  has_id_.reserve(n);
}

void Bpe::encode(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  if (cfg_.ignore_merges) {
    const int32_t id = token_to_id(piece);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  if (piece.size() > kCacheMaxPieceBytes) {
    merge_piece(piece, out);
    return;
  }
  const size_t h = StringHash{}(piece);
  CacheShard& shard = cache_[h % kCacheShards];
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    auto it = shard.map.find(piece);
    if (it != shard.map.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t mark = out.size();
  merge_piece(piece, out);
  std::lock_guard<std::mutex> lock(shard.mu);
  if (shard.map.size() >= kCacheEntriesPerShard) shard.map.clear();
  shard.map.emplace(std::string(piece), std::vector<int32_t>(out.begin() + mark, out.end()));
}

void Bpe::merge_piece(std::string_view piece, std::vector<int32_t>& out) const {
  thread_local std::vector<int32_t> ids;
  thread_local std::vector<Symbol> syms;
  thread_local std::vector<Candidate> heap;
  ids.clear();
  push_initial_symbols(piece, ids);
  const auto n = static_cast<int32_t>(ids.size());
  if (n <= 1) {
    out.insert(out.end(), ids.begin(), ids.end());
    return;
  }
  syms.resize(n);
  for (int32_t k = 0; k < n; ++k) syms[k] = Symbol{ids[k], k - 1, k + 1 < n ? k + 1 : -1};

  heap.clear();
  auto push_pair = [&](int32_t pos) {
    if (pos < 0) return;
    const int32_t nx = syms[pos].next;
    if (nx < 0) return;
    Merge m;
    if (find_merge(syms[pos].id, syms[nx].id, m)) {
      heap.push_back({m.rank, pos, syms[pos].id, syms[nx].id, m.result});
      std::push_heap(heap.begin(), heap.end(), CandidateAfter{});
    }
  };
  for (int32_t k = 0; k + 1 < n; ++k) push_pair(k);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), CandidateAfter{});
    const Candidate c = heap.back();
    heap.pop_back();
    Symbol& left = syms[c.pos];
    if (left.id != c.left || left.next < 0 || syms[left.next].id != c.right) continue;  // stale
    const int32_t gone = left.next;
    left.id = c.result;
    left.next = syms[gone].next;
    if (left.next >= 0) syms[left.next].prev = c.pos;
    syms[gone].id = -1;
    push_pair(left.prev);
    push_pair(c.pos);
  }
  for (int32_t k = 0; k >= 0; k = syms[k].next) out.push_back(syms[k].id);
}

}  // namespace slotlm::tok
