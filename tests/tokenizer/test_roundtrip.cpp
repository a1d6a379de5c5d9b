// SPDX-License-Identifier: MIT
// Properties on the real vocabularies: decode(encode(s)) == s for random valid UTF-8, random bytes
// never crash, special-token parsing on/off, and StreamDecoder chunks are whole UTF-8 characters
// that concatenate to decode().
#include <gtest/gtest.h>
#include <utf8proc.h>

#include <cstdlib>
#include <random>

#include "tok_test_util.h"
#include "tokenizer/utf8.h"

namespace slotlm::tok::test {
namespace {

constexpr int kNumRandomStrings = 300;
constexpr int kMaxRandomChars = 40;
constexpr int kNumFuzzStrings = 500;
constexpr int kMaxFuzzBytes = 64;

// Code points drawn from script blocks the goldens do not cover thoroughly, plus whitespace runs,
// digits and punctuation that stress the split regex.
char32_t random_code_point(std::mt19937& rng, bool any_scalar) {
  std::uniform_int_distribution<int> pick(0, 9);
  auto in = [&](char32_t lo, char32_t hi) {
    return std::uniform_int_distribution<char32_t>(lo, hi)(rng);
  };
  if (any_scalar && pick(rng) == 0) {
    char32_t c;
    do c = in(1, 0x10FFFF);
    while (c >= 0xD800 && c <= 0xDFFF);
    return c;
  }
  switch (pick(rng)) {
    case 0: return U" \t\n\r\u00A0\u3000"[in(0, 5)];
    case 1: return in('0', '9');
    case 2: return in('!', '/');
    case 3: return in(0x4E00, 0x9FFF);    // CJK ideographs
    case 4: return in(0x1F300, 0x1F64F);  // emoji
    case 5: return in(0x0400, 0x04FF);    // Cyrillic
    case 6: return in(0xAC00, 0xD7A3);    // Hangul syllables
    case 7: return U"'sStTdDmM"[in(0, 8)];
    default: return in('a', 'z');
  }
}

std::string random_utf8(std::mt19937& rng, bool any_scalar) {
  std::string s;
  const int n = std::uniform_int_distribution<int>(0, kMaxRandomChars)(rng);
  for (int k = 0; k < n; ++k) utf8_append(s, random_code_point(rng, any_scalar));
  return s;
}

std::string nfc(const std::string& s) {
  utf8proc_uint8_t* out = nullptr;
  const auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                              static_cast<utf8proc_ssize_t>(s.size()), &out,
                              static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  std::string r(reinterpret_cast<const char*>(out), n < 0 ? 0 : n);
  std::free(out);
  return r;
}

std::string llama3_dir() { return ::slotlm::test::shared_path("tokenizers/llama3"); }

TEST(RoundTrip, Qwen2RandomUtf8) {
  SLOTLM_REQUIRE_SHARED(vocab, "tokenizers/qwen2.5/vocab.json");
  const Tokenizer& tok = cached_tokenizer(qwen_slow_dir());
  std::mt19937 rng(1234);
  for (int k = 0; k < kNumRandomStrings; ++k) {
    const std::string s = random_utf8(rng, /*any_scalar=*/true);
    // Qwen2 NFC-normalizes, so the text comes back in NFC.
    ASSERT_EQ(tok.decode(tok.encode(s)), nfc(s)) << "case " << k;
  }
}

TEST(RoundTrip, Llama3RandomUtf8) {
  SLOTLM_REQUIRE_SHARED(model, "tokenizers/llama3/tokenizer.model");
  const Tokenizer& tok = cached_tokenizer(llama3_dir());
  std::mt19937 rng(99);
  for (int k = 0; k < kNumRandomStrings; ++k) {
    const std::string s = random_utf8(rng, /*any_scalar=*/true);
    ASSERT_EQ(tok.decode(tok.encode(s)), s) << "case " << k;
  }
}

TEST(RoundTrip, QwenTokenizerJsonMatchesSlowFiles) {
  SLOTLM_REQUIRE_SHARED(vocab, "tokenizers/qwen2.5/vocab.json");
  const Tokenizer& slow = cached_tokenizer(qwen_slow_dir());
  const Tokenizer& fast = cached_tokenizer(qwen_json_dir());
  std::mt19937 rng(7);
  for (int k = 0; k < kNumRandomStrings; ++k) {
    const std::string s = random_utf8(rng, true) + "<|im_end|>" + random_utf8(rng, false);
    ASSERT_EQ(slow.encode(s), fast.encode(s)) << "case " << k;
  }
}

// Random bytes: invalid UTF-8 is repaired to U+FFFD before anything else (documented in
// bpe_tokenizer.cpp), so encoding equals encoding the repaired text and never throws.
TEST(RoundTrip, RandomBytesNeverCrash) {
  std::vector<std::string> dirs;
  if (!qwen_slow_dir().empty()) dirs.push_back(qwen_slow_dir());
  if (::slotlm::test::file_exists(llama3_dir() + "/tokenizer.model")) dirs.push_back(llama3_dir());
  const std::string ts = ::slotlm::test::shared_path("models/tinystories-656k");
  if (::slotlm::test::file_exists(ts + "/tokenizer.json")) dirs.push_back(ts);
  if (dirs.empty()) GTEST_SKIP() << "../shared is absent";
  std::mt19937 rng(4242);
  for (const std::string& dir : dirs) {
    const Tokenizer& tok = cached_tokenizer(dir);
    for (int k = 0; k < kNumFuzzStrings; ++k) {
      std::string s(std::uniform_int_distribution<int>(0, kMaxFuzzBytes)(rng), '\0');
      for (char& c : s) c = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
      if (k % 3 == 0) s += "<|im_end|><|eot_id|><|end_story|>";
      std::vector<int32_t> ids;
      ASSERT_NO_THROW(ids = tok.encode(s)) << dir << " case " << k;
      EXPECT_EQ(ids, tok.encode(utf8_make_valid(s)));
      for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok.n_vocab());
      const std::string back = tok.decode(ids);
      EXPECT_TRUE(utf8_is_valid(back));
    }
    // Random ids (also out of range) decode to valid UTF-8 without throwing.
    for (int k = 0; k < kNumFuzzStrings; ++k) {
      std::vector<int32_t> ids(std::uniform_int_distribution<int>(0, 16)(rng));
      for (int32_t& id : ids) id = std::uniform_int_distribution<int32_t>(-5, tok.n_vocab() + 5)(rng);
      std::string text;
      ASSERT_NO_THROW(text = tok.decode(ids));
      EXPECT_TRUE(utf8_is_valid(text));
    }
  }
}

TEST(SpecialTokens, ParseOnAndOff) {
  SLOTLM_REQUIRE_SHARED(vocab, "tokenizers/qwen2.5/vocab.json");
  const Tokenizer& tok = cached_tokenizer(qwen_slow_dir());
  const std::string text = "<|im_start|>user\nhi<|im_end|>";
  const auto on = tok.encode(text);
  ASSERT_EQ(on.size(), 5u) << ids_to_string(on);
  EXPECT_EQ(on.front(), 151644);
  EXPECT_EQ(on.back(), 151645);
  const auto off = tok.encode(text, {.parse_special = false});
  for (int32_t id : off) EXPECT_LT(id, 151643) << ids_to_string(off);
  EXPECT_EQ(tok.decode(off), text);
  EXPECT_EQ(tok.decode(on), text);
  EXPECT_EQ(tok.decode(on, /*skip_special=*/true), "user\nhi");
  // Added tokens that are not special are still matched (HF `encode_special_tokens` semantics)
  // and survive skip_special.
  const auto tool = tok.encode("<tool_call>x</tool_call>", {.parse_special = false});
  EXPECT_EQ(tool.front(), 151657);
  EXPECT_EQ(tool.back(), 151658);
  EXPECT_EQ(tok.decode(tool, true), "<tool_call>x</tool_call>");
  // Leftmost-longest matching next to ordinary text.
  EXPECT_EQ(tok.encode("a<|endoftext|>b"), (std::vector<int32_t>{64, 151643, 65}));
}

TEST(SpecialTokens, Llama3OnAndOff) {
  SLOTLM_REQUIRE_SHARED(model, "tokenizers/llama3/tokenizer.model");
  const Tokenizer& tok = cached_tokenizer(llama3_dir());
  EXPECT_EQ(tok.encode("<|eot_id|>"), (std::vector<int32_t>{128009}));
  const auto off = tok.encode("<|eot_id|>", {.parse_special = false});
  EXPECT_GT(off.size(), 1u);
  EXPECT_EQ(tok.decode(off), "<|eot_id|>");
  EXPECT_EQ(tok.encode("hi", {.add_special = true}).front(), 128000);
  EXPECT_EQ(tok.decode(std::vector<int32_t>{128000, 6151}, true), "hi");
}

// Feeds `ids` one by one; every chunk must be valid UTF-8 and together equal decode().
void check_stream(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip_special) {
  StreamDecoder sd(tok, skip_special);
  std::string all;
  for (int32_t id : ids) {
    const std::string chunk = sd.push(id);
    ASSERT_TRUE(utf8_is_valid(chunk));
    all += chunk;
  }
  all += sd.flush();
  EXPECT_EQ(all, tok.decode(ids, skip_special)) << ids_to_string(ids);
}

TEST(StreamDecoder, ChunksAreWholeCharactersAndConcatenate) {
  std::vector<std::string> dirs;
  if (!qwen_slow_dir().empty()) dirs.push_back(qwen_slow_dir());
  if (::slotlm::test::file_exists(llama3_dir() + "/tokenizer.model")) dirs.push_back(llama3_dir());
  const std::string ts = ::slotlm::test::shared_path("models/tinystories-656k");
  if (::slotlm::test::file_exists(ts + "/tokenizer.json")) dirs.push_back(ts);
  if (dirs.empty()) GTEST_SKIP() << "../shared is absent";
  std::mt19937 rng(555);
  for (const std::string& dir : dirs) {
    const Tokenizer& tok = cached_tokenizer(dir);
    for (int k = 0; k < 100; ++k) {
      // Long enough to make the decoder trim its window several times.
      std::string s;
      for (int r = 0; r < 4; ++r) s += random_utf8(rng, true);
      std::vector<int32_t> ids = tok.encode(s, {.add_special = true});
      if (tok.bos_id() >= 0) ids.insert(ids.begin() + ids.size() / 2, tok.bos_id());
      check_stream(tok, ids, true);
      check_stream(tok, ids, false);
    }
  }
}

TEST(StreamDecoder, HoldsSplitCharacters) {
  SLOTLM_REQUIRE_SHARED(model, "tokenizers/llama3/tokenizer.model");
  const Tokenizer& tok = cached_tokenizer(llama3_dir());
  // Byte tokens "\xE4" "\xB8" "\xAD" spell 中 only together.
  const std::vector<int32_t> ids = {tok.token_id("\u00E4"), tok.token_id("\u00B8"),
                                    tok.token_id("\u0143")};  // byte-level 0xE4 0xB8 0xAD
  for (int32_t id : ids) ASSERT_GE(id, 0);
  StreamDecoder sd(tok);
  EXPECT_EQ(sd.push(ids[0]), "");
  EXPECT_EQ(sd.push(ids[1]), "");
  EXPECT_EQ(sd.push(ids[2]), "\u4E2D");
  EXPECT_EQ(sd.flush(), "");
  // A character that never completes comes out as U+FFFD at flush, as decode() gives it.
  check_stream(tok, {ids[0], ids[1]}, true);
  check_stream(tok, {ids[1], tok.token_id("a"), ids[0]}, true);
}

}  // namespace
}  // namespace slotlm::tok::test
