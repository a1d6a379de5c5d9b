// SPDX-License-Identifier: MIT
// `Tokenizer::load`: picks the tokenizer files of an HF model folder, and tokenizer_config.json.
#include <filesystem>

#include "core/error.h"
#include "core/json_file.h"
#include "core/mapped_file.h"
#include "tokenizer/json_util.h"
#include "tokenizer/loaders.h"

namespace slotlm::tok {
namespace {

namespace fs = std::filesystem;

bool is_file(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

// bos_token / eos_token: a string, null, or (older files) an AddedToken object with `content`.
bool read_token_field(const Json& cfg, const char* key, const std::string& where, std::string& out) {
  auto it = cfg.find(key);
  if (it == cfg.end()) return false;
  if (it->is_null()) {
    out.clear();
  } else if (it->is_string()) {
    out = it->get<std::string>();
  } else if (it->is_object()) {
    out = get_string(*it, "content", where + "." + key);
  } else {
    fail(where, ".", key, ": expected a string, null or {\"content\": ...}");
  }
  return true;
}

}  // namespace

void apply_tokenizer_config(const std::string& dir, bool take_added, TokenizerParts& parts) {
  const std::string path = dir + "/tokenizer_config.json";
  if (is_file(path)) {
    const Json cfg = read_json_file(path);
    if (!cfg.is_object()) fail(path, ": expected a JSON object at the top level");
    read_token_field(cfg, "bos_token", path, parts.bos_token);
    read_token_field(cfg, "eos_token", path, parts.eos_token);
    auto tpl = cfg.find("chat_template");
    if (tpl != cfg.end() && tpl->is_string()) {
      parts.chat_template = tpl->get<std::string>();
    } else if (tpl != cfg.end() && tpl->is_array()) {
      // Named templates [{"name": ..., "template": ...}]: HF uses "default".
      for (size_t i = 0; i < tpl->size(); ++i) {
        const std::string w = str_cat(path, ": chat_template[", i, "]");
        const std::string name = get_string((*tpl)[i], "name", w);
        if (name == "default" || parts.chat_template.empty()) {
          parts.chat_template = get_string((*tpl)[i], "template", w);
        }
      }
    } else if (tpl != cfg.end() && !tpl->is_null()) {
      fail(path, ": chat_template: expected a string or a list of named templates");
    }
    // transformers LlamaTokenizerFast.update_post_processor: add_bos_token / add_eos_token rebuild
    // the single-sequence template as [bos] $A [eos].
    const std::string cls = get_string_or(cfg, "tokenizer_class", "", path);
    if (cls == "LlamaTokenizer" || cls == "LlamaTokenizerFast") {
      auto id_of = [&](const std::string& t) {
        const int32_t a = parts.added.find(t);
        return a >= 0 ? a : parts.model.token_to_id(t);
      };
      if (cfg.contains("add_bos_token")) {
        parts.prefix_ids.clear();
        if (get_bool_or(cfg, "add_bos_token", false, path) && id_of(parts.bos_token) >= 0) {
          parts.prefix_ids.push_back(id_of(parts.bos_token));
        }
      }
      if (cfg.contains("add_eos_token")) {
        parts.suffix_ids.clear();
        if (get_bool_or(cfg, "add_eos_token", false, path) && id_of(parts.eos_token) >= 0) {
          parts.suffix_ids.push_back(id_of(parts.eos_token));
        }
      }
    }
    auto added = cfg.find("added_tokens_decoder");
    if (take_added && added != cfg.end() && !added->is_null()) {
      if (!added->is_object()) fail(path, ": added_tokens_decoder: expected an object");
      for (const auto& [key, val] : added->items()) {
        const std::string w = path + ": added_tokens_decoder." + key;
        AddedToken t;
        try {
          size_t used = 0;
          const long id = std::stol(key, &used);
          if (used != key.size() || id < 0 || id > INT32_MAX) throw std::invalid_argument(key);
          t.id = static_cast<int32_t>(id);
        } catch (const std::exception&) {
          fail(w, ": the key must be a token id");
        }
        t.content = get_string(val, "content", w);
        t.special = get_bool_or(val, "special", false, w);
        t.lstrip = get_bool_or(val, "lstrip", false, w);
        t.rstrip = get_bool_or(val, "rstrip", false, w);
        t.normalized = get_bool_or(val, "normalized", !t.special, w);
        t.single_word = get_bool_or(val, "single_word", false, w);
        parts.added.add(std::move(t));
      }
    }
  }
  // Newer HF checkpoints keep the template in its own file.
  const std::string jinja = dir + "/chat_template.jinja";
  if (parts.chat_template.empty() && is_file(jinja)) parts.chat_template = read_file(jinja);
}

std::unique_ptr<Tokenizer> Tokenizer::load(const std::string& model_dir) {
  std::string dir = model_dir;
  if (is_file(model_dir)) {
    // A tokenizer.json (or tokenizer.model) given directly: its folder supplies the config.
    const fs::path p(model_dir);
    dir = p.has_parent_path() ? p.parent_path().string() : ".";
    TokenizerParts parts = p.filename() == "tokenizer.model" ? read_tiktoken(model_dir)
                                                             : read_tokenizer_json(model_dir);
    apply_tokenizer_config(dir, false, parts);
    return std::make_unique<BpeTokenizer>(std::move(parts));
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail(dir, ": no such model folder");
  if (is_file(dir + "/tokenizer.json")) {
    TokenizerParts parts = read_tokenizer_json(dir + "/tokenizer.json");
    apply_tokenizer_config(dir, false, parts);
    return std::make_unique<BpeTokenizer>(std::move(parts));
  }
  if (is_file(dir + "/vocab.json") && is_file(dir + "/merges.txt")) {
    return std::make_unique<BpeTokenizer>(read_vocab_merges(dir));
  }
  if (is_file(dir + "/tokenizer.model")) {
    TokenizerParts parts = read_tiktoken(dir + "/tokenizer.model");
    apply_tokenizer_config(dir, false, parts);
    return std::make_unique<BpeTokenizer>(std::move(parts));
  }
  fail(dir, ": no tokenizer found (expected tokenizer.json, vocab.json + merges.txt, or a tiktoken "
            "tokenizer.model)");
}

}  // namespace slotlm::tok
