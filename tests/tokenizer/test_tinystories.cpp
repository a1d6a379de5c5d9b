// SPDX-License-Identifier: MIT
// TinyStories-656K tokenizer.json (SentencePiece-style BPE: Prepend/Replace normalizer, no
// pre-tokenizer, byte_fallback, TemplateProcessing BOS, Replace/ByteFallback/Fuse/Strip decoder).
#include <gtest/gtest.h>

#include "tok_test_util.h"

namespace slotlm::tok::test {
namespace {

constexpr const char* kTinyStories = "models/tinystories-656k";


const Tokenizer& tinystories() {
  return cached_tokenizer(::slotlm::test::shared_path(kTinyStories));
}

// Ids checked by hand against tokenizer.json: the normalizer gives "▁Once▁upon▁a▁time"; merges
// make '▁'(80) 'On'(147) 'ce▁'(201) 'upon▁a▁tim'(282) 'e'(57) — no merge joins '▁' with 'O'/'On',
// and 'ce▁upon…' is not a token. reference_greedy.json lists the same prompt ids.
TEST(TinyStories, OnceUponATime) {
  SLOTLM_REQUIRE_SHARED(json, std::string(kTinyStories) + "/tokenizer.json");
  const Tokenizer& tok = tinystories();
  EXPECT_EQ(tok.encode("Once upon a time", {.add_special = true}),
            (std::vector<int32_t>{1, 80, 147, 201, 282, 57}));
  EXPECT_EQ(tok.encode("Once upon a time"), (std::vector<int32_t>{80, 147, 201, 282, 57}));
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.bos_token(), "<|start_story|>");
  EXPECT_EQ(tok.eos_token(), "<|end_story|>");
  EXPECT_EQ(tok.n_vocab(), 2048);
}

TEST(TinyStories, DecodeStripsThePrependedSpace) {
  SLOTLM_REQUIRE_SHARED(json, std::string(kTinyStories) + "/tokenizer.json");
  const Tokenizer& tok = tinystories();
  EXPECT_EQ(tok.decode(std::vector<int32_t>{1, 80, 147, 201, 282, 57}, /*skip_special=*/true),
            "Once upon a time");
  // The model's own greedy continuation from BOS (reference_greedy.json, first ids).
  EXPECT_EQ(tok.decode(std::vector<int32_t>{1, 147, 201, 282, 215}, true), "Once upon a time, ");
}

TEST(TinyStories, RoundTripsEnglish) {
  SLOTLM_REQUIRE_SHARED(json, std::string(kTinyStories) + "/tokenizer.json");
  const Tokenizer& tok = tinystories();
  for (const std::string s :
       {"Once upon a time, there was a little girl named Lily.", "She said, \"Let's play!\"\nThe end.",
        "Tim had 3 toys: a car, a ball and a bear.", "a  b   c", "x"}) {
    const auto ids = tok.encode(s);
    EXPECT_EQ(tok.decode(ids), s) << ids_to_string(ids);
  }
}

// Characters outside the 2048-token vocabulary have no <0xXX> tokens to fall back on, so they
// become <unk> (id 0), consecutive ones fused (fuse_unk=true in tokenizer.json).
TEST(TinyStories, UnknownCharactersBecomeUnk) {
  SLOTLM_REQUIRE_SHARED(json, std::string(kTinyStories) + "/tokenizer.json");
  const Tokenizer& tok = tinystories();
  const auto ids = tok.encode("a 中文 b");
  EXPECT_NE(std::find(ids.begin(), ids.end(), 0), ids.end()) << ids_to_string(ids);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 0), 1) << ids_to_string(ids);
}

// The added tokens are `normalized`, so HF matches them in the normalized text with their content
// normalized too: the Prepend normalizer makes the pattern "▁<|end_story|>". Written after a space
// the token is found; glued to a word it is not (HF behaviour, not a bug of this port).
TEST(TinyStories, SpecialTokenInText) {
  SLOTLM_REQUIRE_SHARED(json, std::string(kTinyStories) + "/tokenizer.json");
  const Tokenizer& tok = tinystories();
  const auto ids = tok.encode("The end. <|end_story|>");
  EXPECT_EQ(ids, (std::vector<int32_t>{80, 247, 183, 10, 2})) << ids_to_string(ids);
  const auto plain = tok.encode("The end. <|end_story|>", {.parse_special = false});
  EXPECT_EQ(std::count(plain.begin(), plain.end(), 2), 0) << ids_to_string(plain);
  const auto glued = tok.encode("The end.<|end_story|>");
  EXPECT_EQ(std::count(glued.begin(), glued.end(), 2), 0) << ids_to_string(glued);
}

}  // namespace
}  // namespace slotlm::tok::test

namespace slotlm::tok::test {
namespace {

// LlamaTokenizerFast rebuilds its template from add_bos_token / add_eos_token in tokenizer_config.json.
TEST(TinyStories, AddEosTokenFromConfig) {
  SLOTLM_REQUIRE_SHARED(json, std::string(kTinyStories) + "/tokenizer.json");
  const std::string d = make_temp_dir("ts_eos");
  std::filesystem::create_symlink(json, d + "/tokenizer.json");
  auto cfg = nlohmann::json::parse(slurp(::slotlm::test::shared_path(kTinyStories) + "/tokenizer_config.json"));
  cfg["add_eos_token"] = true;
  cfg["add_bos_token"] = false;
  write_text(d + "/tokenizer_config.json", cfg.dump());
  const auto tok = Tokenizer::load(d);
  EXPECT_EQ(tok->encode("Once upon a time", {.add_special = true}),
            (std::vector<int32_t>{80, 147, 201, 282, 57, 2}));
}

}  // namespace
}  // namespace slotlm::tok::test
