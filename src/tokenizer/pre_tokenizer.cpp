// SPDX-License-Identifier: MIT
#include "tokenizer/pre_tokenizer.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/json_util.h"
#include "tokenizer/regex.h"

namespace slotlm::tok {

const char* const kQwen2SplitRegex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kLlama3SplitRegex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* const kGpt2SplitRegex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

namespace {

// HF `SplitDelimiterBehavior`.
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

SplitBehavior parse_behavior(const std::string& s, const std::string& where) {
  if (s == "Removed") return SplitBehavior::kRemoved;
  if (s == "Isolated") return SplitBehavior::kIsolated;
  if (s == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (s == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (s == "Contiguous") return SplitBehavior::kContiguous;
  fail(where, ".behavior: unknown value '", s, "'");
}

struct Span {
  size_t begin, end;
  bool is_match;
};

// Cuts `text` at the `matches` and regroups the parts by `behavior`, as HF
// `NormalizedString::split` does. Appends the non-empty pieces to `out`.
void split_by(const std::string& text, const std::vector<std::pair<size_t, size_t>>& matches,
              SplitBehavior behavior, bool invert, std::vector<std::string>& out) {
  std::vector<Span> spans;
  size_t last = 0;
  for (const auto& [b, e] : matches) {
    if (b > last) spans.push_back({last, b, invert});
    spans.push_back({b, e, !invert});
    last = e;
  }
  if (last < text.size()) spans.push_back({last, text.size(), invert});

  std::vector<Span> groups;
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const Span& s : spans) {
        if (!s.is_match) groups.push_back(s);
      }
      break;
    case SplitBehavior::kIsolated:
      groups = spans;
      break;
    case SplitBehavior::kContiguous:
      for (const Span& s : spans) {
        if (!groups.empty() && s.is_match && groups.back().is_match) {
          groups.back().end = s.end;
        } else {
          groups.push_back(s);
        }
      }
      break;
    case SplitBehavior::kMergedWithPrevious: {
      bool prev_match = false;
      for (const Span& s : spans) {
        if (s.is_match && !prev_match && !groups.empty()) {
          groups.back().end = s.end;
        } else {
          groups.push_back(s);
        }
        prev_match = s.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      bool next_match = false;
      for (size_t k = spans.size(); k-- > 0;) {
        const Span& s = spans[k];
        if (s.is_match && !next_match && !groups.empty()) {
          groups.back().begin = s.begin;
        } else {
          groups.push_back(s);
        }
        next_match = s.is_match;
      }
      std::reverse(groups.begin(), groups.end());
      break;
    }
  }
  for (const Span& g : groups) {
    if (g.end > g.begin) out.emplace_back(text, g.begin, g.end - g.begin);
  }
}

void split_all(std::vector<std::string>& pieces, const Pattern& pattern, SplitBehavior behavior,
               bool invert) {
  std::vector<std::string> out;
  out.reserve(pieces.size() * 2);
  for (const std::string& p : pieces) split_by(p, pattern.find_all(p), behavior, invert, out);
  pieces.swap(out);
}

// HF `Split`: pattern + behavior + invert.
class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(Pattern pattern, SplitBehavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<std::string>& pieces, bool) const override {
    split_all(pieces, pattern_, behavior_, invert_);
  }

 private:
  Pattern pattern_;
  SplitBehavior behavior_;
  bool invert_;
};

// HF `ByteLevel`: optional prefix space, optional GPT-2 regex split, then every byte becomes its
// byte-level code point (byte_level.h).
class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex, const std::string& where)
      : add_prefix_space_(add_prefix_space) {
    if (use_regex) regex_ = Pattern::regex(kGpt2SplitRegex, where);
    use_regex_ = use_regex;
  }
  void pre_tokenize(std::vector<std::string>& pieces, bool) const override {
    if (add_prefix_space_) {
      for (std::string& p : pieces) {
        if (p.empty() || p[0] != ' ') p.insert(0, 1, ' ');
      }
    }
    if (use_regex_) split_all(pieces, regex_, SplitBehavior::kIsolated, false);
    std::string buf;
    for (std::string& p : pieces) {
      buf.clear();
      append_byte_level(buf, p);
      p.swap(buf);
    }
  }

 private:
  bool add_prefix_space_;
  bool use_regex_ = false;
  Pattern regex_;
};

// HF `Metaspace` (SentencePiece style): spaces become `replacement`, which is prepended per
// `prepend_scheme`, and the text is split before each replacement character when `split`.
class MetaspacePreTokenizer : public PreTokenizer {
 public:
  enum class Prepend { kAlways, kFirst, kNever };
  MetaspacePreTokenizer(std::string replacement, Prepend prepend, bool split)
      : replacement_(std::move(replacement)),
        prepend_(prepend),
        split_(split),
        pattern_(Pattern::literal(replacement_)),
        space_(Pattern::literal(" ")) {}
  void pre_tokenize(std::vector<std::string>& pieces, bool first) const override {
    for (size_t k = 0; k < pieces.size(); ++k) {
      std::string& p = pieces[k];
      std::string out;
      size_t last = 0;
      for (const auto& [b, e] : space_.find_all(p)) {
        out.append(p, last, b - last);
        out.append(replacement_);
        last = e;
      }
      out.append(p, last, std::string::npos);
      const bool want = prepend_ == Prepend::kAlways || (prepend_ == Prepend::kFirst && first && k == 0);
      if (want && out.compare(0, replacement_.size(), replacement_) != 0) out.insert(0, replacement_);
      p.swap(out);
    }
    if (split_) split_all(pieces, pattern_, SplitBehavior::kMergedWithNext, false);
  }

 private:
  std::string replacement_;
  Prepend prepend_;
  bool split_;
  Pattern pattern_;
  Pattern space_;
};

// HF `Digits`: ASCII digit runs become their own pieces (each digit alone when `individual`).
class DigitsPreTokenizer : public PreTokenizer {
 public:
  explicit DigitsPreTokenizer(bool individual, const std::string& where)
      : individual_(individual), pattern_(Pattern::regex("[0-9]", where)) {}
  void pre_tokenize(std::vector<std::string>& pieces, bool) const override {
    split_all(pieces, pattern_, individual_ ? SplitBehavior::kIsolated : SplitBehavior::kContiguous,
              false);
  }

 private:
  bool individual_;
  Pattern pattern_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts)
      : parts_(std::move(parts)) {}
  void pre_tokenize(std::vector<std::string>& pieces, bool first) const override {
    for (const auto& p : parts_) p->pre_tokenize(pieces, first);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_split_byte_level(const std::string& regex, const std::string& where) {
  std::vector<std::unique_ptr<PreTokenizer>> parts;
  parts.push_back(std::make_unique<SplitPreTokenizer>(Pattern::regex(regex, where),
                                                      SplitBehavior::kIsolated, false));
  parts.push_back(std::make_unique<ByteLevelPreTokenizer>(false, false, where));
  return std::make_unique<SequencePreTokenizer>(std::move(parts));
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& j, const std::string& where) {
  if (j.is_null()) return nullptr;
  const std::string type = get_string(j, "type", where);
  if (type == "Split") {
    return std::make_unique<SplitPreTokenizer>(
        make_pattern(j, where), parse_behavior(get_string(j, "behavior", where), where),
        get_bool_or(j, "invert", false, where));
  }
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevelPreTokenizer>(get_bool_or(j, "add_prefix_space", true, where),
                                                   get_bool_or(j, "use_regex", true, where), where);
  }
  if (type == "Metaspace") {
    // Older files say `add_prefix_space` instead of `prepend_scheme`.
    auto prepend = get_bool_or(j, "add_prefix_space", true, where)
                       ? MetaspacePreTokenizer::Prepend::kAlways
                       : MetaspacePreTokenizer::Prepend::kNever;
    const std::string scheme = get_string_or(j, "prepend_scheme", "", where);
    if (scheme == "always") prepend = MetaspacePreTokenizer::Prepend::kAlways;
    else if (scheme == "first") prepend = MetaspacePreTokenizer::Prepend::kFirst;
    else if (scheme == "never") prepend = MetaspacePreTokenizer::Prepend::kNever;
    else if (!scheme.empty()) fail(where, ".prepend_scheme: unknown value '", scheme, "'");
    return std::make_unique<MetaspacePreTokenizer>(get_string_or(j, "replacement", "\u2581", where),
                                                   prepend, get_bool_or(j, "split", true, where));
  }
  if (type == "Digits") {
    return std::make_unique<DigitsPreTokenizer>(get_bool_or(j, "individual_digits", false, where),
                                                where);
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    const Json& arr = get_array(j, "pretokenizers", where);
    for (size_t i = 0; i < arr.size(); ++i) {
      auto p = make_pre_tokenizer(arr[i], str_cat(where, ".pretokenizers[", i, "]"));
      if (p) parts.push_back(std::move(p));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(parts));
  }
  fail(where, ": pre_tokenizer type '", type, "' is not supported");
}

}  // namespace slotlm::tok
