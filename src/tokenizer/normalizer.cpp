// SPDX-License-Identifier: MIT
#include "tokenizer/normalizer.h"

#include <utf8proc.h>

#include <cstdlib>
#include <vector>

#include "core/error.h"
#include "tokenizer/json_util.h"
#include "tokenizer/regex.h"
#include "tokenizer/utf8.h"

namespace slotlm::tok {
namespace {

bool is_ascii(const std::string& s) {
  for (char c : s) {
    if (static_cast<uint8_t>(c) >= 0x80) return false;
  }
  return true;
}

// True when NFC cannot change `text`: every code point is ASCII, or a starter (combining class 0)
// that has no canonical decomposition and takes no part in any canonical composition (utf8proc
// property data), and is not a Hangul jamo (composed algorithmically). Conservative: some NFC text
// fails the test and simply goes through the full normalization.
bool nfc_unchanged(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    if (static_cast<uint8_t>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const char32_t cp = utf8_next(text, i);
    if ((cp >= 0x1100 && cp <= 0x11FF) || (cp >= 0xA960 && cp <= 0xA97F) ||
        (cp >= 0xD7B0 && cp <= 0xD7FF)) {
      return false;
    }
    const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(cp));
    if (p->combining_class != 0 || p->comb_index != UINT16_MAX || p->comp_exclusion ||
        (p->decomp_seqindex != UINT16_MAX && p->decomp_type == 0)) {
      return false;
    }
  }
  return true;
}

// NFC/NFD/NFKC/NFKD through utf8proc_map (HF uses the unicode-normalization crate; both follow
// Unicode UAX #15). ASCII text is already in every normal form, so it is left untouched.
class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(int options) : options_(options) {}
  void normalize(std::string& text) const override {
    if (text.empty() || (is_ascii(text) && !(options_ & UTF8PROC_COMPAT))) return;
    // Fast path: most text (ASCII, CJK, emoji, ...) is already NFC; checking is ~10x cheaper.
    if (options_ == UTF8PROC_COMPOSE && nfc_unchanged(text)) return;
    utf8proc_uint8_t* out = nullptr;
    const utf8proc_ssize_t n =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                     static_cast<utf8proc_ssize_t>(text.size()), &out,
                     static_cast<utf8proc_option_t>(options_ | UTF8PROC_STABLE));
    if (n < 0) fail("unicode normalization failed: ", utf8proc_errmsg(n));
    text.assign(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
    std::free(out);
  }

 private:
  int options_;
};

class LowercaseNormalizer : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
      utf8_append(out, static_cast<char32_t>(utf8proc_tolower(static_cast<int32_t>(utf8_next(text, i)))));
    }
    text.swap(out);
  }
};

// HF `Prepend`: puts `prepend` in front of any non-empty text.
class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string p) : prepend_(std::move(p)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prepend_);
  }

 private:
  std::string prepend_;
};

// HF `Replace`: every match of a literal string or a regex becomes `content`.
class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(Pattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(std::string& text) const override {
    const auto matches = pattern_.find_all(text);
    if (matches.empty()) return;
    std::string out;
    out.reserve(text.size());
    size_t last = 0;
    for (const auto& [b, e] : matches) {
      out.append(text, last, b - last);
      out.append(content_);
      last = e;
    }
    out.append(text, last, std::string::npos);
    text.swap(out);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts)
      : parts_(std::move(parts)) {}
  void normalize(std::string& text) const override {
    for (const auto& p : parts_) p->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::unique_ptr<Normalizer> make_nfc_normalizer() {
  return std::make_unique<UnicodeNormalizer>(UTF8PROC_COMPOSE);
}

std::unique_ptr<Normalizer> make_normalizer(const Json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = get_string(j, "type", where);
  if (type == "NFC") return make_nfc_normalizer();
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(UTF8PROC_DECOMPOSE);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(UTF8PROC_COMPOSE | UTF8PROC_COMPAT);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(get_string(j, "prepend", where));
  if (type == "Replace") {
    return std::make_unique<ReplaceNormalizer>(make_pattern(j, where),
                                               get_string(j, "content", where));
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> parts;
    const Json& arr = get_array(j, "normalizers", where);
    for (size_t i = 0; i < arr.size(); ++i) {
      auto p = make_normalizer(arr[i], str_cat(where, ".normalizers[", i, "]"));
      if (p) parts.push_back(std::move(p));
    }
    return std::make_unique<SequenceNormalizer>(std::move(parts));
  }
  fail(where, ": normalizer type '", type, "' is not supported");
}

}  // namespace slotlm::tok
