// SPDX-License-Identifier: MIT
// Reader of the "slow" GPT-2-style tokenizer files: vocab.json + merges.txt (+ tokenizer_config.json).
#include <fstream>

#include "core/error.h"
#include "core/json_file.h"
#include "core/mapped_file.h"
#include "tokenizer/json_util.h"
#include "tokenizer/loaders.h"

namespace slotlm::tok {
namespace {

bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

}  // namespace

TokenizerParts read_vocab_merges(const std::string& dir) {
  TokenizerParts parts;
  const std::string vocab_path = dir + "/vocab.json";
  const std::string merges_path = dir + "/merges.txt";
  const Json vocab = read_json_file(vocab_path);
  if (!vocab.is_object()) fail(vocab_path, ": expected an object {token: id}");
  for (const auto& [text, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
      fail(vocab_path, ": \"", text, "\": expected a non-negative integer id");
    }
    if (!parts.model.add_token(text, id.get<int32_t>())) fail(vocab_path, ": duplicate token '", text, "'");
  }

  // merges.txt: an optional "#version" header, then one "left right" rule per line, rank = order.
  const std::string merges = read_file(merges_path);
  int32_t rank = 0;
  size_t line_no = 0;
  for (size_t pos = 0; pos < merges.size();) {
    size_t end = merges.find('\n', pos);
    if (end == std::string::npos) end = merges.size();
    std::string_view line(merges.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
    const size_t sp = line.find(' ');
    if (sp == std::string_view::npos || line.find(' ', sp + 1) != std::string_view::npos) {
      fail(merges_path, ":", line_no, ": expected \"left right\"");
    }
    if (!parts.model.add_merge(line.substr(0, sp), line.substr(sp + 1), rank++)) {
      fail(merges_path, ":", line_no, ": '", line, "': a part or the merge is not in vocab.json");
    }
  }

  // The pre-tokenization is not stored in these files; it follows from the tokenizer class.
  std::string cls = "Qwen2Tokenizer";
  const std::string cfg_path = dir + "/tokenizer_config.json";
  if (file_exists(cfg_path)) {
    const Json cfg = read_json_file(cfg_path);
    cls = get_string_or(cfg, "tokenizer_class", cls, cfg_path);
  }
  if (cls == "Qwen2Tokenizer" || cls == "Qwen2TokenizerFast") {
    // transformers tokenization_qwen2.py: NFC, then PRETOKENIZE_REGEX, then byte-level BPE.
    parts.normalizer = make_nfc_normalizer();
    parts.pre_tokenizer = make_split_byte_level(kQwen2SplitRegex, merges_path);
  } else if (cls == "GPT2Tokenizer" || cls == "GPT2TokenizerFast") {
    parts.pre_tokenizer = make_pre_tokenizer(Json{{"type", "ByteLevel"}, {"add_prefix_space", false}},
                                             merges_path);
  } else {
    fail(cfg_path, ": tokenizer_class '", cls,
         "' is not supported with vocab.json + merges.txt (Qwen2Tokenizer, GPT2Tokenizer)");
  }
  parts.decoder = make_byte_level_decoder();
  parts.model.set_config(BpeConfig{});
  apply_tokenizer_config(dir, /*take_added=*/true, parts);
  return parts;
}

}  // namespace slotlm::tok
