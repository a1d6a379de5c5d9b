// SPDX-License-Identifier: MIT
// Reader of tiktoken "BPE ranks" files: Meta's Llama-3 tokenizer.model (llama-models
// models/llama3/tokenizer.py), one `base64(token bytes) rank` per line, the rank being the id.
#include <algorithm>

#include "core/error.h"
#include "core/mapped_file.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/loaders.h"

namespace slotlm::tok {
namespace {

// Number of special tokens after the ranks in Llama-3 (llama-models tokenizer.py).
constexpr int kLlama3NumSpecial = 256;

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Standard base64 (RFC 4648) with '=' padding; false on a malformed string.
bool base64_decode(std::string_view s, std::string& out) {
  out.clear();
  uint32_t acc = 0;
  int bits = 0;
  size_t n_pad = 0;
  for (char c : s) {
    if (c == '=') {
      ++n_pad;
      continue;
    }
    if (n_pad > 0) return false;
    const int v = base64_value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return n_pad <= 2 && !out.empty();
}

}  // namespace

std::string llama3_special_token(int k) {
  // HF Llama-3.1 names for 128000..128010; the rest are reserved tokens numbered on from 3.
  static const char* const kNamed[] = {
      "<|begin_of_text|>",          "<|end_of_text|>",    "<|reserved_special_token_0|>",
      "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>",
      "<|start_header_id|>",        "<|end_header_id|>",  "<|eom_id|>",
      "<|eot_id|>",                 "<|python_tag|>"};
  constexpr int kNumNamed = sizeof(kNamed) / sizeof(kNamed[0]);
  if (k < kNumNamed) return kNamed[k];
  return str_cat("<|reserved_special_token_", k - kNumNamed + 3, "|>");
}

TokenizerParts read_tiktoken(const std::string& path) {
  const std::string data = read_file(path);
  TokenizerParts parts;
  std::string bytes, text;
  int32_t n_base = 0;
  size_t line_no = 0;
  for (size_t pos = 0; pos < data.size();) {
    size_t end = data.find('\n', pos);
    if (end == std::string::npos) end = data.size();
    std::string_view line(data.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const size_t sp = line.find(' ');
    int64_t rank = -1;
    if (sp != std::string_view::npos && sp + 1 < line.size()) {
      rank = 0;
      for (char c : line.substr(sp + 1)) {
        if (c < '0' || c > '9' || rank > INT32_MAX / 10) {
          rank = -1;
          break;
        }
        rank = rank * 10 + (c - '0');
      }
    }
    if (rank < 0 || !base64_decode(line.substr(0, sp), bytes)) {
      fail(path, ":", line_no,
           ": not a tiktoken line \"<base64> <rank>\" (SentencePiece tokenizer.model files are "
           "not supported)");
    }
    text.clear();
    append_byte_level(text, bytes);  // stored in HF's byte-level spelling, like tokenizer.json
    if (!parts.model.add_token(text, static_cast<int32_t>(rank))) {
      fail(path, ":", line_no, ": duplicate token");
    }
    n_base = std::max<int32_t>(n_base, static_cast<int32_t>(rank) + 1);
  }
  if (n_base == 0) fail(path, ": empty tiktoken file");

  BpeConfig cfg;
  cfg.rank_merges = true;
  cfg.ignore_merges = true;  // tiktoken emits a piece that is a token as is (HF: ignore_merges)
  parts.model.set_config(cfg);
  for (int k = 0; k < kLlama3NumSpecial; ++k) {
    AddedToken t;
    t.id = n_base + k;
    t.content = llama3_special_token(k);
    t.special = true;
    parts.added.add(std::move(t));
  }
  parts.pre_tokenizer = make_split_byte_level(kLlama3SplitRegex, path);
  parts.decoder = make_byte_level_decoder();
  parts.prefix_ids = {n_base};  // HF Llama-3 TemplateProcessing: <|begin_of_text|> $A
  parts.bos_token = llama3_special_token(0);
  parts.eos_token = llama3_special_token(1);
  return parts;
}

}  // namespace slotlm::tok
