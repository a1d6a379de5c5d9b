// SPDX-License-Identifier: MIT
// Helpers for the tokenizer tests: llama.cpp `.inp/.out` vector reader, temporary model folders
// assembled from ../shared/tokenizers files (nothing copied into the repo), cached tokenizers.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace slotlm::tok::test {

struct VocabCase {
  std::string text;
  std::vector<int32_t> ids;
};

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

// Reads llama.cpp's test pairs (format: ../shared/tokenizers/README.md).
inline std::vector<VocabCase> read_vocab_cases(const std::string& inp_path, const std::string& out_path) {
  static const std::string kSep = "\n__ggml_vocab_test__\n";
  const std::string inp = slurp(inp_path);
  std::vector<VocabCase> cases;
  for (size_t pos = 0; pos < inp.size();) {
    const size_t s = inp.find(kSep, pos);
    if (s == std::string::npos) {
      cases.push_back({inp.substr(pos), {}});
      break;
    }
    cases.push_back({inp.substr(pos, s - pos), {}});
    pos = s + kSep.size();
  }
  std::istringstream out(slurp(out_path));
  std::string line;
  size_t k = 0;
  while (std::getline(out, line)) {
    if (k >= cases.size()) {
      ADD_FAILURE() << out_path << ": more lines than test strings";
      break;
    }
    std::istringstream ls(line);
    int32_t id;
    while (ls >> id) cases[k].ids.push_back(id);
    ++k;
  }
  EXPECT_EQ(k, cases.size()) << out_path << ": line count differs from the .inp string count";
  return cases;
}

inline std::string make_temp_dir(const std::string& tag) {
  std::string tmpl = (std::filesystem::temp_directory_path() / ("slotlm_tok_" + tag + "_XXXXXX")).string();
  if (mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
  return tmpl;
}

// Qwen2.5's added tokens from ../shared/tokenizers/qwen2.5/added_tokens.tsv (id, content, special).
inline std::vector<std::tuple<int32_t, std::string, bool>> read_qwen_added(const std::string& tsv) {
  std::vector<std::tuple<int32_t, std::string, bool>> out;
  std::istringstream in(slurp(tsv));
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, content, special;
    std::getline(ls, id, '\t');
    std::getline(ls, content, '\t');
    std::getline(ls, special, '\t');
    if (!id.empty()) out.emplace_back(std::stoi(id), content, special == "true");
  }
  return out;
}

// A slow-format Qwen2.5 folder: symlinks to vocab.json, merges.txt and chat_template.jinja, plus
// a tokenizer_config.json whose added_tokens_decoder lists added_tokens.tsv. "" if ../shared is absent.
inline std::string qwen_slow_dir() {
  static const std::string dir = [] {
    const std::string src = ::slotlm::test::shared_path("tokenizers/qwen2.5");
    if (!::slotlm::test::file_exists(src + "/vocab.json")) return std::string();
    const std::string d = make_temp_dir("qwen_slow");
    for (const char* f : {"vocab.json", "merges.txt", "chat_template.jinja"}) {
      std::filesystem::create_symlink(src + "/" + f, d + "/" + f);
    }
    nlohmann::json cfg;
    cfg["tokenizer_class"] = "Qwen2Tokenizer";
    cfg["bos_token"] = nullptr;
    cfg["eos_token"] = "<|im_end|>";
    for (const auto& [id, content, special] : read_qwen_added(src + "/added_tokens.tsv")) {
      cfg["added_tokens_decoder"][std::to_string(id)] = {
          {"content", content}, {"lstrip", false}, {"normalized", false},
          {"rstrip", false},    {"single_word", false}, {"special", special}};
    }
    write_text(d + "/tokenizer_config.json", cfg.dump(2));
    return d;
  }();
  return dir;
}

// The same vocabulary as an HF tokenizer.json, laid out as Qwen2.5's own tokenizer.json
// (NFC, Split+ByteLevel, ByteLevel decoder) with merges in the ["a", "b"] array form.
inline std::string qwen_json_dir() {
  static const std::string dir = [] {
    const std::string src = ::slotlm::test::shared_path("tokenizers/qwen2.5");
    if (!::slotlm::test::file_exists(src + "/vocab.json")) return std::string();
    const std::string d = make_temp_dir("qwen_json");
    nlohmann::json j;
    j["version"] = "1.0";
    j["added_tokens"] = nlohmann::json::array();
    for (const auto& [id, content, special] : read_qwen_added(src + "/added_tokens.tsv")) {
      j["added_tokens"].push_back({{"id", id}, {"content", content}, {"single_word", false},
                                   {"lstrip", false}, {"rstrip", false}, {"normalized", false},
                                   {"special", special}});
    }
    j["normalizer"] = {{"type", "NFC"}};
    j["pre_tokenizer"] = {
        {"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern",
            {{"Regex",
              R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
           {"behavior", "Isolated"},
           {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}}}};
    j["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
    j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
    nlohmann::json model;
    model["type"] = "BPE";
    model["dropout"] = nullptr;
    model["unk_token"] = nullptr;
    model["byte_fallback"] = false;
    model["ignore_merges"] = false;
    model["vocab"] = nlohmann::json::parse(slurp(src + "/vocab.json"));
    model["merges"] = nlohmann::json::array();
    std::istringstream in(slurp(src + "/merges.txt"));
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line.rfind("#version", 0) == 0) continue;
      const size_t sp = line.find(' ');
      model["merges"].push_back({line.substr(0, sp), line.substr(sp + 1)});
    }
    j["model"] = model;
    write_text(d + "/tokenizer.json", j.dump());
    return d;
  }();
  return dir;
}

// Loads each folder once per test run.
inline const Tokenizer& cached_tokenizer(const std::string& dir) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto& t = cache[dir];
  if (!t) t = Tokenizer::load(dir);
  return *t;
}

inline std::string ids_to_string(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += " " + std::to_string(id);
  return s;
}

}  // namespace slotlm::tok::test
