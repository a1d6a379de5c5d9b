// SPDX-License-Identifier: MIT
#include "tokenizer/decoder.h"

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/json_util.h"
#include "tokenizer/regex.h"
#include "tokenizer/utf8.h"

namespace slotlm::tok {
namespace {

// HF ByteLevel decoder: all tokens joined, each mapped back to bytes; a token with a code point
// outside the byte-level alphabet (e.g. an added token's text) keeps its own bytes.
class ByteLevelDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string out;
    for (const std::string& t : tokens) {
      const size_t mark = out.size();
      if (!byte_level_to_bytes(t, out)) {
        out.resize(mark);
        out.append(t);
      }
    }
    tokens.assign(1, std::move(out));
  }
};

// HF ByteFallback: runs of "<0xXX>" tokens become their bytes when those form valid UTF-8,
// else one U+FFFD per byte token.
class ByteFallbackDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string bytes;
    size_t n_bytes = 0;
    auto flush = [&] {
      if (n_bytes == 0) return;
      if (utf8_is_valid(bytes)) {
        out.push_back(bytes);
      } else {
        for (size_t k = 0; k < n_bytes; ++k) out.emplace_back(kReplacementUtf8);
      }
      bytes.clear();
      n_bytes = 0;
    };
    for (std::string& t : tokens) {
      int value = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') value = parse_hex(t[3], t[4]);
      if (value >= 0) {
        bytes.push_back(static_cast<char>(value));
        ++n_bytes;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens.swap(out);
  }

 private:
  static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }
  static int parse_hex(char hi, char lo) {
    const int h = hex_digit(hi), l = hex_digit(lo);
    return h < 0 || l < 0 ? -1 : h * 16 + l;
  }
};

class FuseDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string out;
    for (const std::string& t : tokens) out.append(t);
    tokens.assign(1, std::move(out));
  }
};

// HF Strip: removes up to `start` leading and `stop` trailing copies of `content` from each token.
class StripDecoder : public Decoder {
 public:
  StripDecoder(std::string content, size_t start, size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    if (content_.empty()) return;
    const size_t c = content_.size();
    for (std::string& t : tokens) {
      size_t b = 0, e = t.size();
      for (size_t k = 0; k < start_ && e - b >= c && t.compare(b, c, content_) == 0; ++k) b += c;
      for (size_t k = 0; k < stop_ && e - b >= c && t.compare(e - c, c, content_) == 0; ++k) e -= c;
      t = t.substr(b, e - b);
    }
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(Pattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      if (pattern_.is_regex() && !utf8_is_valid(t)) t = utf8_make_valid(t);  // PCRE2 needs UTF-8
      const auto matches = pattern_.find_all(t);
      if (matches.empty()) continue;
      std::string out;
      size_t last = 0;
      for (const auto& [b, e] : matches) {
        out.append(t, last, b - last);
        out.append(content_);
        last = e;
      }
      out.append(t, last, std::string::npos);
      t.swap(out);
    }
  }

 private:
  Pattern pattern_;
  std::string content_;
};

// HF Metaspace decoder: `replacement` becomes a space, except in the first token, where it is
// dropped when the pre-tokenizer prepends one (prepend_scheme other than "never").
class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first)
      : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    if (replacement_.empty()) return;
    for (size_t k = 0; k < tokens.size(); ++k) {
      std::string& t = tokens[k];
      const std::string_view rep = (k == 0 && strip_first_) ? "" : " ";
      std::string out;
      size_t last = 0;
      for (size_t pos = t.find(replacement_); pos != std::string::npos;
           pos = t.find(replacement_, last)) {
        out.append(t, last, pos - last);
        out.append(rep);
        last = pos + replacement_.size();
      }
      out.append(t, last, std::string::npos);
      t.swap(out);
    }
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

class SequenceDecoder : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_) p->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::unique_ptr<Decoder> make_byte_level_decoder() { return std::make_unique<ByteLevelDecoder>(); }

std::unique_ptr<Decoder> make_decoder(const Json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = get_string(j, "type", where);
  if (type == "ByteLevel") return make_byte_level_decoder();
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    const int64_t start = get_int_or(j, "start", 0, where), stop = get_int_or(j, "stop", 0, where);
    if (start < 0 || stop < 0) fail(where, ": Strip start/stop must be >= 0");
    return std::make_unique<StripDecoder>(get_string(j, "content", where), start, stop);
  }
  if (type == "Replace") {
    return std::make_unique<ReplaceDecoder>(make_pattern(j, where), get_string(j, "content", where));
  }
  if (type == "Metaspace") {
    bool strip_first = get_bool_or(j, "add_prefix_space", true, where);
    const std::string scheme = get_string_or(j, "prepend_scheme", "", where);
    if (!scheme.empty()) strip_first = scheme != "never";
    return std::make_unique<MetaspaceDecoder>(get_string_or(j, "replacement", "\u2581", where),
                                              strip_first);
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Decoder>> parts;
    const Json& arr = get_array(j, "decoders", where);
    for (size_t i = 0; i < arr.size(); ++i) {
      auto p = make_decoder(arr[i], str_cat(where, ".decoders[", i, "]"));
      if (p) parts.push_back(std::move(p));
    }
    return std::make_unique<SequenceDecoder>(std::move(parts));
  }
  fail(where, ": decoder type '", type, "' is not supported");
}

}  // namespace slotlm::tok
