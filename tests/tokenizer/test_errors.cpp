// SPDX-License-Identifier: MIT
// Bad tokenizer files end in slotlm::Error with a one-line message naming the file and field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "tok_test_util.h"

namespace slotlm::tok::test {
namespace {

using ::testing::HasSubstr;

// Writes `content` as `name` into a fresh folder and returns the Error message of loading it.
std::string load_error(const std::string& name, const std::string& content) {
  const std::string d = make_temp_dir("bad");
  write_text(d + "/" + name, content);
  try {
    Tokenizer::load(d);
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_THAT(msg, HasSubstr(d + "/" + name));
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
    return msg;
  }
  ADD_FAILURE() << "no Error for " << name << ": " << content;
  return "";
}

TEST(Errors, MalformedTokenizerJson) {
  EXPECT_THAT(load_error("tokenizer.json", "{not json"), HasSubstr("invalid JSON"));
  EXPECT_THAT(load_error("tokenizer.json", "[]"), HasSubstr("object"));
  EXPECT_THAT(load_error("tokenizer.json", R"({"version":"1.0"})"), HasSubstr("'model'"));
  EXPECT_THAT(load_error("tokenizer.json", R"({"model":{"type":"WordPiece","vocab":{}}})"),
              HasSubstr("model.type: model type 'WordPiece' is not supported"));
  EXPECT_THAT(load_error("tokenizer.json", R"({"model":{"type":"BPE","merges":[]}})"),
              HasSubstr("model: missing field 'vocab'"));
  EXPECT_THAT(load_error("tokenizer.json", R"({"model":{"type":"BPE","vocab":{"a":0},"merges":["a"]}})"),
              HasSubstr("model.merges[0]"));
  EXPECT_THAT(load_error("tokenizer.json", R"({"model":{"type":"BPE","vocab":{"a":0},"merges":["a a"]}})"),
              HasSubstr("not in the vocab"));
  EXPECT_THAT(load_error("tokenizer.json", R"({"model":{"type":"BPE","vocab":{"a":"x"},"merges":[]}})"),
              HasSubstr("model.vocab[\"a\"]"));
  EXPECT_THAT(load_error("tokenizer.json",
                         R"({"model":{"type":"BPE","vocab":{},"merges":[]},"normalizer":{"type":"Magic"}})"),
              HasSubstr("normalizer: normalizer type 'Magic' is not supported"));
  EXPECT_THAT(load_error("tokenizer.json",
                         R"({"model":{"type":"BPE","vocab":{},"merges":[]},"pre_tokenizer":{"type":"Split","pattern":{"Regex":"(("},"behavior":"Isolated"}})"),
              HasSubstr("pre_tokenizer.pattern.Regex: invalid regex"));
  EXPECT_THAT(load_error("tokenizer.json",
                         R"({"model":{"type":"BPE","vocab":{},"merges":[]},"added_tokens":[{"content":"x"}]})"),
              HasSubstr("added_tokens[0].id"));
}

TEST(Errors, MalformedTiktokenAndSlowFiles) {
  EXPECT_THAT(load_error("tokenizer.model", std::string("\x0a\x05hello\x00\x01", 9)),
              HasSubstr(": not a tiktoken line"));
  EXPECT_THAT(load_error("tokenizer.model", "IQ== 0\nIg== x\n"), HasSubstr(":2:"));
  const std::string d = make_temp_dir("bad_slow");
  write_text(d + "/vocab.json", R"({"a":0,"b":1})");
  write_text(d + "/merges.txt", "#version: 0.2\na b\n");
  try {
    Tokenizer::load(d);
    ADD_FAILURE() << "no Error";
  } catch (const Error& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr(d + "/merges.txt:2"));
  }
}

TEST(Errors, MissingFolderOrFiles) {
  const std::string d = make_temp_dir("empty");
  try {
    Tokenizer::load(d);
    ADD_FAILURE() << "no Error";
  } catch (const Error& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("no tokenizer found"));
  }
  EXPECT_THROW(Tokenizer::load(d + "/nope"), Error);
}

}  // namespace
}  // namespace slotlm::tok::test
