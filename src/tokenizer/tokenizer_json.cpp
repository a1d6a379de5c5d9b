// SPDX-License-Identifier: MIT
// Reader of HF tokenizer.json (the `tokenizers` library's serialization, format version "1.0").
#include <algorithm>

#include "core/error.h"
#include "core/json_file.h"
#include "tokenizer/json_util.h"
#include "tokenizer/loaders.h"

namespace slotlm::tok {
namespace {

void read_bpe_model(const Json& model, const std::string& where, Bpe& bpe) {
  // HF accepts an untagged model; a `merges` field means BPE.
  const std::string type = get_string_or(model, "type", model.contains("merges") ? "BPE" : "", where);
  if (type != "BPE") {
    fail(where, ".type: model type '", type, "' is not supported (only BPE)");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (!get_string_or(model, key, "", where).empty()) {
      fail(where, ".", key, ": not supported (no byte-level BPE model uses it)");
    }
  }
  const Json& vocab = get_object(model, "vocab", where);
  const Json& merges = get_array(model, "merges", where);
  bpe.reserve(std::max(vocab.size(), merges.size()));
  for (const auto& [text, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
      fail(where, ".vocab[\"", text, "\"]: expected a non-negative integer id");
    }
    if (!bpe.add_token(text, id.get<int32_t>())) fail(where, ".vocab: duplicate token '", text, "'");
  }
  for (size_t i = 0; i < merges.size(); ++i) {
    const Json& m = merges[i];
    std::string left, right;
    if (m.is_string()) {
      // "a b": exactly one space (HF rejects other shapes).
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
        fail(where, ".merges[", i, "]: expected \"left right\", got \"", s, "\"");
      }
      left = s.substr(0, sp);
      right = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    } else {
      fail(where, ".merges[", i, "]: expected \"left right\" or [\"left\", \"right\"]");
    }
    if (!bpe.add_merge(left, right, static_cast<int32_t>(i))) {
      fail(where, ".merges[", i, "]: '", left, "', '", right, "' or their merge is not in the vocab");
    }
  }
  BpeConfig cfg;
  cfg.byte_fallback = get_bool_or(model, "byte_fallback", false, where);
  cfg.ignore_merges = get_bool_or(model, "ignore_merges", false, where);
  cfg.fuse_unk = get_bool_or(model, "fuse_unk", false, where);
  // `dropout` only matters for training-time sampling; inference is deterministic without it.
  const std::string unk = get_string_or(model, "unk_token", "", where);
  if (!unk.empty()) cfg.unk_id = bpe.token_to_id(unk);
  bpe.set_config(cfg);
}

void read_added_tokens(const Json& arr, const std::string& where, AddedVocab& added) {
  for (size_t i = 0; i < arr.size(); ++i) {
    const std::string w = str_cat(where, "[", i, "]");
    const Json& a = arr[i];
    AddedToken t;
    const int64_t id = get_int_or(a, "id", -1, w);
    if (id < 0 || id > INT32_MAX) fail(w, ".id: expected a non-negative integer");
    t.id = static_cast<int32_t>(id);
    t.content = get_string(a, "content", w);
    t.special = get_bool_or(a, "special", false, w);
    t.lstrip = get_bool_or(a, "lstrip", false, w);
    t.rstrip = get_bool_or(a, "rstrip", false, w);
    t.normalized = get_bool_or(a, "normalized", !t.special, w);
    t.single_word = get_bool_or(a, "single_word", false, w);
    added.add(std::move(t));
  }
}

// Post-processors reduce to ids around the text for a single sequence (pairs are not used here).
void read_post_processor(const Json& j, const std::string& where, TokenizerParts& parts) {
  if (j.is_null()) return;
  const std::string type = get_string(j, "type", where);
  if (type == "ByteLevel") return;  // only adjusts offsets
  if (type == "TemplateProcessing") {
    const Json& specials = get_object(j, "special_tokens", where);
    bool after = false;
    const Json& single = get_array(j, "single", where);
    for (size_t i = 0; i < single.size(); ++i) {
      const std::string w = str_cat(where, ".single[", i, "]");
      const Json& item = single[i];
      if (item.contains("Sequence")) {
        after = true;
      } else if (item.contains("SpecialToken")) {
        const std::string name = get_string(get_object(item, "SpecialToken", w), "id", w + ".SpecialToken");
        auto it = specials.find(name);
        if (it == specials.end()) fail(w, ": special token '", name, "' not in special_tokens");
        const Json& ids = get_array(*it, "ids", where + ".special_tokens." + name);
        for (const Json& id : ids) {
          if (!id.is_number_integer()) fail(where, ".special_tokens.", name, ".ids: expected integers");
          (after ? parts.suffix_ids : parts.prefix_ids).push_back(id.get<int32_t>());
        }
      } else {
        fail(w, ": expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
      }
    }
    return;
  }
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    // cls = ["<s>", 0], sep = ["</s>", 2]: <s> A </s>.
    const Json& cls = get_array(j, "cls", where);
    const Json& sep = get_array(j, "sep", where);
    if (cls.size() != 2 || !cls[1].is_number_integer() || sep.size() != 2 || !sep[1].is_number_integer()) {
      fail(where, ": cls/sep must be [token, id]");
    }
    parts.prefix_ids.push_back(cls[1].get<int32_t>());
    parts.suffix_ids.push_back(sep[1].get<int32_t>());
    return;
  }
  if (type == "Sequence") {
    const Json& arr = get_array(j, "processors", where);
    for (size_t i = 0; i < arr.size(); ++i) {
      read_post_processor(arr[i], str_cat(where, ".processors[", i, "]"), parts);
    }
    return;
  }
  fail(where, ": post_processor type '", type, "' is not supported");
}

const Json& field_or_null(const Json& root, const char* key) {
  static const Json kNull;
  auto it = root.find(key);
  return it == root.end() ? kNull : *it;
}

}  // namespace

TokenizerParts read_tokenizer_json(const std::string& path) {
  const Json root = read_json_file(path);
  if (!root.is_object()) fail(path, ": expected a JSON object at the top level");
  TokenizerParts parts;
  read_bpe_model(get_object(root, "model", path), path + ": model", parts.model);
  const Json& added = field_or_null(root, "added_tokens");
  if (!added.is_null()) {
    if (!added.is_array()) fail(path, ": added_tokens: expected an array");
    read_added_tokens(added, path + ": added_tokens", parts.added);
  }
  parts.normalizer = make_normalizer(field_or_null(root, "normalizer"), path + ": normalizer");
  parts.pre_tokenizer =
      make_pre_tokenizer(field_or_null(root, "pre_tokenizer"), path + ": pre_tokenizer");
  read_post_processor(field_or_null(root, "post_processor"), path + ": post_processor", parts);
  parts.decoder = make_decoder(field_or_null(root, "decoder"), path + ": decoder");
  return parts;
}

}  // namespace slotlm::tok
