// SPDX-License-Identifier: MIT
// Unit tests of the tokenizer's parts on small inputs: UTF-8 repair, pre-tokenizers (HF docs'
// examples), normalizers, decoders, BPE options and added-token flags on a tiny tokenizer.json.
#include <gtest/gtest.h>
#include <utf8proc.h>

#include <cstdlib>
#include <random>

#include "tok_test_util.h"
#include "tokenizer/decoder.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/utf8.h"

namespace slotlm::tok::test {
namespace {

using Pieces = std::vector<std::string>;

Pieces pre_tokenize(const Json& j, const std::string& text, bool first = true) {
  auto p = make_pre_tokenizer(j, "test");
  Pieces pieces{text};
  p->pre_tokenize(pieces, first);
  return pieces;
}

TEST(Utf8, RepairUsesMaximalSubparts) {
  EXPECT_EQ(utf8_make_valid("ok"), "ok");
  EXPECT_EQ(utf8_make_valid("\xE4\xB8"), "\uFFFD");
  EXPECT_EQ(utf8_make_valid("\x80"), "\uFFFD");
  EXPECT_EQ(utf8_make_valid("a\xF0\x9F\x98" "b"), "a\uFFFDb");
  EXPECT_EQ(utf8_make_valid("\xED\xA0\x80"), "\uFFFD\uFFFD\uFFFD");  // a UTF-16 surrogate
  EXPECT_EQ(utf8_make_valid("\xC0\xAF"), "\uFFFD\uFFFD");            // overlong
  EXPECT_EQ(utf8_truncated_tail("ab\xE4\xB8"), 2u);
  EXPECT_EQ(utf8_truncated_tail("ab\xE4\xB8\xAD"), 0u);
  EXPECT_FALSE(utf8_is_valid("\xFF"));
}

// Examples from the HF tokenizers docs for SplitDelimiterBehavior.
TEST(PreTokenizer, SplitBehaviors) {
  auto split = [](const char* behavior) {
    return pre_tokenize({{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior},
                         {"invert", false}},
                        "the-final--countdown");
  };
  EXPECT_EQ(split("Removed"), (Pieces{"the", "final", "countdown"}));
  EXPECT_EQ(split("Isolated"), (Pieces{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(split("MergedWithPrevious"), (Pieces{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(split("MergedWithNext"), (Pieces{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(split("Contiguous"), (Pieces{"the", "-", "final", "--", "countdown"}));
  EXPECT_EQ(pre_tokenize({{"type", "Split"}, {"pattern", {{"Regex", "\\d+"}}}, {"behavior", "Removed"},
                          {"invert", true}},
                         "ab12cd345"),
            (Pieces{"12", "345"}));
}

TEST(PreTokenizer, DigitsMetaspaceByteLevel) {
  EXPECT_EQ(pre_tokenize({{"type", "Digits"}, {"individual_digits", true}}, "Call 123 please"),
            (Pieces{"Call ", "1", "2", "3", " please"}));
  EXPECT_EQ(pre_tokenize({{"type", "Digits"}, {"individual_digits", false}}, "Call 123 please"),
            (Pieces{"Call ", "123", " please"}));
  const Json meta = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "first"},
                     {"split", true}};
  EXPECT_EQ(pre_tokenize(meta, "Hey friend!"), (Pieces{"\u2581Hey", "\u2581friend!"}));
  EXPECT_EQ(pre_tokenize(meta, "Hey friend!", /*first=*/false), (Pieces{"Hey", "\u2581friend!"}));
  EXPECT_EQ(pre_tokenize({{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}},
                         "Hello my friend, how's it?"),
            (Pieces{"\u0120Hello", "\u0120my", "\u0120friend", ",", "\u0120how", "'s", "\u0120it", "?"}));
  EXPECT_EQ(pre_tokenize({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}},
                         "a b\n\xC3\xA9"),
            (Pieces{"a\u0120b\u010A\u00C3\u00A9"}));
}

TEST(PreTokenizer, Qwen2RegexSplitsDigitsSingly) {
  auto p = make_split_byte_level(kQwen2SplitRegex, "test");
  Pieces pieces{"x 2024 it's\n\n"};
  p->pre_tokenize(pieces, true);
  EXPECT_EQ(pieces, (Pieces{"x", "\u0120", "2", "0", "2", "4", "\u0120it", "'s", "\u010A\u010A"}));
}

TEST(Normalizer, Kinds) {
  auto run = [](const Json& j, std::string s) {
    make_normalizer(j, "test")->normalize(s);
    return s;
  };
  EXPECT_EQ(run({{"type", "NFC"}}, "e\u0301"), "\u00E9");
  EXPECT_EQ(run({{"type", "NFKC"}}, "\uFB01"), "fi");
  EXPECT_EQ(run({{"type", "Lowercase"}}, "HeLLo \u00C9"), "hello \u00E9");
  EXPECT_EQ(run({{"type", "Sequence"},
                 {"normalizers",
                  {{{"type", "Prepend"}, {"prepend", "\u2581"}},
                   {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}}}}},
                "a b"),
            "\u2581a\u2581b");
  EXPECT_EQ(run({{"type", "Prepend"}, {"prepend", "\u2581"}}, ""), "");
  EXPECT_EQ(run({{"type", "Replace"}, {"pattern", {{"Regex", " {2,}"}}}, {"content", " "}}, "a   b  c"),
            "a b c");
}

// The NFC fast path (skip text that cannot change) must agree with full utf8proc NFC.
TEST(Normalizer, NfcFastPathAgreesWithFullNfc) {
  auto nfc = make_nfc_normalizer();
  std::mt19937 rng(31337);
  // Blocks with compositions, jamo, singletons and marks, plus anything at all.
  const std::pair<char32_t, char32_t> ranges[] = {
      {0x20, 0x7E},     {0xC0, 0x24F},   {0x300, 0x36F},   {0x1100, 0x11FF}, {0xAC00, 0xAC40},
      {0x2126, 0x212B}, {0xF900, 0xF920}, {0x0900, 0x097F}, {0x4E00, 0x4E40}, {0x1F600, 0x1F610},
      {0x0F00, 0x0FFF}, {0x1, 0x10FFFF}};
  for (int k = 0; k < 3000; ++k) {
    std::string s;
    const int n = std::uniform_int_distribution<int>(1, 6)(rng);
    for (int c = 0; c < n; ++c) {
      const auto& [lo, hi] = ranges[std::uniform_int_distribution<size_t>(0, std::size(ranges) - 1)(rng)];
      char32_t cp = std::uniform_int_distribution<char32_t>(lo, hi)(rng);
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0x41;
      utf8_append(s, cp);
    }
    utf8proc_uint8_t* full = nullptr;
    const auto len = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                  static_cast<utf8proc_ssize_t>(s.size()), &full,
                                  static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    ASSERT_GE(len, 0);
    const std::string want(reinterpret_cast<const char*>(full), static_cast<size_t>(len));
    std::free(full);
    std::string got = s;
    nfc->normalize(got);
    ASSERT_EQ(got, want) << "case " << k;
  }
}

TEST(Decoder, Kinds) {
  auto run = [](const Json& j, std::vector<std::string> toks) {
    make_decoder(j, "test")->decode_chain(toks);
    std::string s;
    for (const auto& t : toks) s += t;
    return s;
  };
  EXPECT_EQ(run({{"type", "ByteFallback"}}, {"<0xE4>", "<0xB8>", "<0xAD>", "x"}), "\u4E2Dx");
  EXPECT_EQ(run({{"type", "ByteFallback"}}, {"<0xE4>", "x", "<0xB8>"}), "\uFFFDx\uFFFD");
  EXPECT_EQ(run({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}, {"  a", " b"}), " ab");
  EXPECT_EQ(run({{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "always"}},
                {"\u2581Hey", "\u2581friend"}),
            "Hey friend");
  EXPECT_EQ(run({{"type", "ByteLevel"}}, {"\u0120Hello", "<|x|>", "\u010A"}), " Hello<|x|>\n");
}

// A tiny SentencePiece-style tokenizer.json exercising byte_fallback, ignore_merges, string-form
// merges and added-token flags.
std::string tiny_dir(bool ignore_merges) {
  Json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  const char* extra[] = {"\u2581", "a", "b", "\u2581a", "ab", "\u2581ab", "\u2581ba"};
  for (int k = 0; k < 7; ++k) vocab[extra[k]] = 259 + k;
  Json j;
  j["model"] = {{"type", "BPE"},        {"vocab", vocab},          {"unk_token", "<unk>"},
                {"byte_fallback", true}, {"fuse_unk", true},        {"ignore_merges", ignore_merges},
                {"merges", {"\u2581 a", "a b", "\u2581a b"}}};
  j["added_tokens"] = {
      {{"id", 1}, {"content", "<s>"}, {"special", true}, {"normalized", false}},
      {{"id", 266}, {"content", "<m>"}, {"special", true}, {"lstrip", true}, {"rstrip", true}, {"normalized", false}},
      {{"id", 267}, {"content", "<w>"}, {"special", false}, {"single_word", true}, {"normalized", false}}};
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "first"}, {"split", true}};
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                     {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                         {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}};
  j["decoder"] = {{"type", "Sequence"},
                  {"decoders",
                   {{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
                    {{"type", "ByteFallback"}},
                    {{"type", "Fuse"}},
                    {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  const std::string d = make_temp_dir(ignore_merges ? "tiny_im" : "tiny");
  write_text(d + "/tokenizer.json", j.dump());
  return d;
}

TEST(TinyJson, BpeOptionsAndAddedTokenFlags) {
  static const std::string dir = tiny_dir(false);
  const Tokenizer& tok = cached_tokenizer(dir);
  EXPECT_EQ(tok.encode("ab ab"), (std::vector<int32_t>{264, 264}));
  EXPECT_EQ(tok.encode("ab", {.add_special = true}), (std::vector<int32_t>{1, 264}));
  EXPECT_EQ(tok.bos_id(), 1);
  // byte_fallback: é is not a token, its bytes are.
  EXPECT_EQ(tok.encode("\u00E9"), (std::vector<int32_t>{259, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(tok.decode(std::vector<int32_t>{259, 3 + 0xC3, 3 + 0xA9}), "\u00E9");
  // "▁ba" is a token but no merge builds it.
  EXPECT_EQ(tok.encode("ba"), (std::vector<int32_t>{259, 261, 260}));
  // lstrip + rstrip: the spaces around <m> belong to it; the text after it does not start the
  // input, so Metaspace (prepend_scheme "first") adds no ▁ there.
  EXPECT_EQ(tok.encode("ab <m> ab"), (std::vector<int32_t>{264, 266, 263}));
  EXPECT_EQ(tok.encode("ab <m> ab", {.parse_special = false}),
            (std::vector<int32_t>{264, 259, 3 + '<', 3 + 'm', 3 + '>', 264}));
  // single_word: not matched inside a word.
  EXPECT_EQ(tok.encode("a <w> b"), (std::vector<int32_t>{262, 259, 267, 259, 261}));
  const auto glued = tok.encode("a<w>b");
  EXPECT_EQ(std::count(glued.begin(), glued.end(), 267), 0) << ids_to_string(glued);
  EXPECT_EQ(tok.decode(tok.encode("ab ab b")), "ab ab b");
}

TEST(TinyJson, IgnoreMerges) {
  static const std::string dir = tiny_dir(true);
  const Tokenizer& tok = cached_tokenizer(dir);
  EXPECT_EQ(tok.encode("ba"), (std::vector<int32_t>{265}));
  EXPECT_EQ(tok.encode("ab"), (std::vector<int32_t>{264}));
}

}  // namespace
}  // namespace slotlm::tok::test
