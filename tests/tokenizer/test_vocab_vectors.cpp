// SPDX-License-Identifier: MIT
// HF-made goldens: llama.cpp's ggml-vocab-*.gguf.inp/.out pairs (ids from HF `tokenizers`,
// add_special_tokens=False) for Qwen2/2.5 (slow files and tokenizer.json) and Llama-3 (tiktoken).
#include <gtest/gtest.h>

#include "tok_test_util.h"

namespace slotlm::tok::test {
namespace {

constexpr const char* kVectorDir = "tokenizers/llama.cpp-vocab-tests/";

// Encodes every string of `name`'s vector file with `tok` and compares with the listed ids; also
// checks that decoding gives the string back. Prints "<name>: passed/total".
void check_vectors(const Tokenizer& tok, const std::string& name, const std::string& label) {
  const std::string base = ::slotlm::test::shared_path(std::string(kVectorDir) + "ggml-vocab-" + name + ".gguf");
  const auto cases = read_vocab_cases(base + ".inp", base + ".out");
  ASSERT_EQ(cases.size(), 46u);
  int passed = 0;
  for (size_t k = 0; k < cases.size(); ++k) {
    const auto ids = tok.encode(cases[k].text, {.add_special = false, .parse_special = true});
    if (ids == cases[k].ids) {
      ++passed;
    } else {
      ADD_FAILURE() << label << " case " << k << " \"" << cases[k].text << "\"\n  want"
                    << ids_to_string(cases[k].ids) << "\n  got " << ids_to_string(ids);
    }
    EXPECT_EQ(tok.decode(cases[k].ids), cases[k].text) << label << " decode, case " << k;
  }
  std::printf("[ vectors  ] %s: %d/%zu passed\n", label.c_str(), passed, cases.size());
}

TEST(VocabVectors, Qwen2SlowFiles) {
  SLOTLM_REQUIRE_SHARED(inp, std::string(kVectorDir) + "ggml-vocab-qwen2.gguf.inp");
  SLOTLM_REQUIRE_SHARED(vocab, "tokenizers/qwen2.5/vocab.json");
  check_vectors(cached_tokenizer(qwen_slow_dir()), "qwen2", "qwen2 (vocab.json+merges.txt)");
}

TEST(VocabVectors, Qwen2TokenizerJson) {
  SLOTLM_REQUIRE_SHARED(inp, std::string(kVectorDir) + "ggml-vocab-qwen2.gguf.inp");
  SLOTLM_REQUIRE_SHARED(vocab, "tokenizers/qwen2.5/vocab.json");
  check_vectors(cached_tokenizer(qwen_json_dir()), "qwen2", "qwen2 (tokenizer.json)");
}

// DeepSeek-R1-Distill-Qwen uses the Qwen2.5 vocabulary (its .out equals qwen2's).
TEST(VocabVectors, DeepSeekR1Qwen) {
  SLOTLM_REQUIRE_SHARED(inp, std::string(kVectorDir) + "ggml-vocab-deepseek-r1-qwen.gguf.inp");
  SLOTLM_REQUIRE_SHARED(vocab, "tokenizers/qwen2.5/vocab.json");
  check_vectors(cached_tokenizer(qwen_slow_dir()), "deepseek-r1-qwen", "deepseek-r1-qwen");
}

TEST(VocabVectors, Llama3Tiktoken) {
  SLOTLM_REQUIRE_SHARED(inp, std::string(kVectorDir) + "ggml-vocab-llama-bpe.gguf.inp");
  SLOTLM_REQUIRE_SHARED(model, "tokenizers/llama3/tokenizer.model");
  check_vectors(cached_tokenizer(::slotlm::test::shared_path("tokenizers/llama3")), "llama-bpe",
                "llama-bpe (tokenizer.model)");
}

// Meta's llama-models tests/api/test_tokenizer.py vectors (../shared/tokenizers/llama3/SOURCE.md).
TEST(VocabVectors, Llama3MetaReference) {
  SLOTLM_REQUIRE_SHARED(model, "tokenizers/llama3/tokenizer.model");
  const Tokenizer& tok = cached_tokenizer(::slotlm::test::shared_path("tokenizers/llama3"));
  auto ids = tok.encode("This is a test sentence.", {.add_special = true});
  ids.push_back(tok.token_id("<|end_of_text|>"));
  EXPECT_EQ(ids, (std::vector<int32_t>{128000, 2028, 374, 264, 1296, 11914, 13, 128001}));
  const std::string dialog =
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nThis is a test sentence."
      "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nThis is a response.<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\n";
  EXPECT_EQ(tok.encode(dialog), (std::vector<int32_t>{128000, 128006, 9125, 128007, 271, 2028, 374, 264,
                                                      1296, 11914, 13, 128009, 128006, 882, 128007, 271,
                                                      2028, 374, 264, 2077, 13, 128009, 128006, 78191,
                                                      128007, 271}));
  EXPECT_EQ(tok.bos_id(), 128000);
  EXPECT_EQ(tok.bos_token(), "<|begin_of_text|>");
  EXPECT_EQ(tok.n_vocab(), 128256);
  EXPECT_TRUE(tok.is_special(128009));
  EXPECT_FALSE(tok.is_special(2028));
}

// The 256 Llama-3 special tokens are named as in HF Llama-3.1+ (special_tokens.tsv column 2).
TEST(VocabVectors, Llama3SpecialTokenNames) {
  SLOTLM_REQUIRE_SHARED(tsv, "tokenizers/llama3/special_tokens.tsv");
  const Tokenizer& tok = cached_tokenizer(::slotlm::test::shared_path("tokenizers/llama3"));
  std::istringstream in(slurp(tsv));
  std::string line;
  std::getline(in, line);
  int n = 0;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, name;
    std::getline(ls, id, '\t');
    std::getline(ls, name, '\t');
    EXPECT_EQ(tok.token_id(name), std::stoi(id)) << name;
    EXPECT_EQ(tok.decode(std::vector<int32_t>{std::stoi(id)}), name);
    ++n;
  }
  EXPECT_EQ(n, 256);
}

TEST(VocabVectors, QwenConfigAndSpecials) {
  SLOTLM_REQUIRE_SHARED(vocab, "tokenizers/qwen2.5/vocab.json");
  const Tokenizer& tok = cached_tokenizer(qwen_slow_dir());
  EXPECT_EQ(tok.n_vocab(), 151665);
  EXPECT_EQ(tok.bos_id(), -1);
  EXPECT_EQ(tok.bos_token(), "");
  EXPECT_EQ(tok.eos_token(), "<|im_end|>");
  EXPECT_EQ(tok.token_id("<|im_end|>"), 151645);
  EXPECT_NE(tok.chat_template().find("im_start"), std::string::npos);
  EXPECT_TRUE(tok.is_special(151643));
  EXPECT_FALSE(tok.is_special(151657));  // <tool_call> is added but not special
  // Qwen adds no BOS even with add_special.
  EXPECT_EQ(tok.encode("Hello", {.add_special = true}), tok.encode("Hello"));
}

}  // namespace
}  // namespace slotlm::tok::test
