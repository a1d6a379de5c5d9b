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

// Number of entries reserved up front: Qwen2's vocab.json has 151,643.
constexpr size_t kExpectedVocab = 160000;

// Streams vocab.json {"token": id, ...} straight into the BPE model (nlohmann SAX): building the
// JSON DOM first would cost a std::map node per token and dominate the load time.
class VocabSax : public nlohmann::json_sax<Json> {
 public:
  VocabSax(Bpe& bpe, const std::string& path) : bpe_(bpe), path_(path) {}
  bool null() override { return bad("null"); }
  bool boolean(bool) override { return bad("a boolean"); }
  bool number_integer(number_integer_t v) override {
    return v < 0 ? bad("a negative id") : add(static_cast<uint64_t>(v));
  }
  bool number_unsigned(number_unsigned_t v) override { return add(v); }
  bool number_float(number_float_t, const string_t&) override { return bad("a float"); }
  bool string(string_t&) override { return bad("a string"); }
  bool binary(binary_t&) override { return bad("binary data"); }
  bool start_object(std::size_t) override {
    return ++depth_ == 1 ? true : bad("a nested object");
  }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override { return bad("an array"); }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    fail(path_, ": invalid JSON: ", e.what());
  }

 private:
  bool add(uint64_t id) {
    if (depth_ != 1) return bad("a bare number");
    if (id > INT32_MAX) fail(path_, ": \"", key_, "\": id out of range");
    if (!bpe_.add_token(key_, static_cast<int32_t>(id))) fail(path_, ": duplicate token '", key_, "'");
    return true;
  }
  bool bad(const char* what) {
    if (depth_ == 1) fail(path_, ": \"", key_, "\": expected an integer id, got ", what);
    fail(path_, ": expected an object {token: id}, got ", what);
  }

  Bpe& bpe_;
  const std::string& path_;
  std::string key_;
  int depth_ = 0;
};

}  // namespace

TokenizerParts read_vocab_merges(const std::string& dir) {
  TokenizerParts parts;
  const std::string vocab_path = dir + "/vocab.json";
  const std::string merges_path = dir + "/merges.txt";
  parts.model.reserve(kExpectedVocab);
  {
    const std::string text = read_file(vocab_path);
    VocabSax sax(parts.model, vocab_path);
    Json::sax_parse(text, &sax);
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
