// SPDX-License-Identifier: MIT
// Malformed checkpoints: every defect ends in a slotlm::Error whose one-line message names the
// file and field, never a crash.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "test_util.h"

namespace slotlm {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class LoaderErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("slotlm_loader_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes a safetensors file: 8-byte length, `header` as given, then `data_bytes` zero bytes.
  std::string write_raw(const std::string& header, size_t data_bytes, const std::string& name = "model.safetensors") {
    const std::string path = (dir_ / name).string();
    std::ofstream out(path, std::ios::binary);
    uint64_t n = header.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << header;
    out << std::string(data_bytes, '\0');
    return path;
  }

  // Expects loading `path` to throw an Error mentioning each of `parts` on a single line.
  void expect_error(const std::string& path, std::initializer_list<std::string> parts) {
    model::TensorStore store;
    try {
      store.add_file(path);
      FAIL() << "no error for " << path;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      for (const auto& p : parts) EXPECT_THAT(msg, HasSubstr(p));
    }
  }

  fs::path dir_;
};

TEST_F(LoaderErrors, TruncatedFile) {
  const std::string path = (dir_ / "model.safetensors").string();
  std::ofstream(path, std::ios::binary) << "abc";
  expect_error(path, {"model.safetensors", "truncated"});
}

TEST_F(LoaderErrors, HeaderLengthPastEnd) {
  const std::string path = (dir_ / "model.safetensors").string();
  std::ofstream out(path, std::ios::binary);
  uint64_t n = 1000;
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << "{}";
  out.close();
  expect_error(path, {"header length", "past the end"});
}

TEST_F(LoaderErrors, HeaderTooLong) {
  const std::string path = (dir_ / "model.safetensors").string();
  std::ofstream out(path, std::ios::binary);
  uint64_t n = uint64_t(1) << 40;
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << "{}";
  out.close();
  expect_error(path, {"header length", "out of bounds"});
}

TEST_F(LoaderErrors, HeaderNotJson) {
  expect_error(write_raw("{not json", 0), {"not valid JSON"});
}

TEST_F(LoaderErrors, BadHugePagesSettingNamesTheVariable) {
  const std::string path = write_raw(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 16);
  ::setenv("SLOTLM_HUGEPAGES", "yes", 1);
  expect_error(path, {"SLOTLM_HUGEPAGES", "'yes'"});
  for (const char* v : {"0", "1"}) {  // both accepted; the tensor reads back either way
    ::setenv("SLOTLM_HUGEPAGES", v, 1);
    model::TensorStore store;
    store.add_file(path);
    EXPECT_TRUE(store.contains("a")) << v;
  }
  ::unsetenv("SLOTLM_HUGEPAGES");
}

TEST_F(LoaderErrors, OffsetsOutOfRange) {
  expect_error(write_raw(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8), {"'a'", "past the data"});
}

TEST_F(LoaderErrors, ShapeDoesNotMatchSpan) {
  expect_error(write_raw(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", 16), {"'a'", "needs 12 bytes"});
}

TEST_F(LoaderErrors, OverlappingTensors) {
  expect_error(write_raw(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                         R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 16),
               {"overlap"});
}

TEST_F(LoaderErrors, ReversedOffsetsAndBadTypes) {
  expect_error(write_raw(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8), {"reversed"});
  expect_error(write_raw(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 8), {"non-negative"});
  expect_error(write_raw(R"({"a":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", 8), {"dtype"});
  expect_error(write_raw(R"([1,2])", 8), {"JSON object"});
}

TEST_F(LoaderErrors, UnsupportedDtypeRefusedWhenUsed) {
  write_raw(R"({"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", 8);
  model::TensorStore store;
  store.add_file((dir_ / "model.safetensors").string());
  EXPECT_THROW(
      {
        try {
          store.get("a", {1});
        } catch (const Error& e) {
          EXPECT_THAT(std::string(e.what()), HasSubstr("I64"));
          throw;
        }
      },
      Error);
}

// Copies a tiny checkpoint, then breaks one thing at a time in config.json or the weights.
class BrokenModel : public LoaderErrors {
 protected:
  void copy_tiny() {
    for (const auto& e : fs::directory_iterator(test::data_path("tiny-qwen2")))
      fs::copy_file(e.path(), dir_ / e.path().filename());
  }
  void expect_load_error(std::initializer_list<std::string> parts) {
    try {
      model::Model::load(dir_.string());
      FAIL() << "no error";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
      for (const auto& p : parts) EXPECT_THAT(msg, HasSubstr(p));
    }
  }
  void edit_config(const std::string& from, const std::string& to) {
    std::string cfg = read_file((dir_ / "config.json").string());
    const auto pos = cfg.find(from);
    ASSERT_NE(pos, std::string::npos) << from;
    cfg.replace(pos, from.size(), to);
    std::ofstream((dir_ / "config.json").string(), std::ios::trunc) << cfg;
  }
};

TEST_F(BrokenModel, UnknownArchitecture) {
  copy_tiny();
  edit_config("Qwen2ForCausalLM", "MistralForCausalLM");
  expect_load_error({"config.json", "architectures", "MistralForCausalLM"});
}

TEST_F(BrokenModel, WrongShapeInConfig) {
  copy_tiny();
  edit_config("\"intermediate_size\": 160", "\"intermediate_size\": 170");
  expect_load_error({"model.safetensors", "shape", "[170, 64]"});
}

TEST_F(BrokenModel, BadFieldType) {
  copy_tiny();
  edit_config("\"num_hidden_layers\": 2", "\"num_hidden_layers\": \"two\"");
  expect_load_error({"config.json", "num_hidden_layers"});
}

TEST_F(BrokenModel, MissingTensor) {
  copy_tiny();
  edit_config("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
  expect_load_error({"model.layers.2."});
}

TEST_F(BrokenModel, UnsupportedRopeScaling) {
  copy_tiny();
  edit_config("\"rope_theta\"", "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}, \"rope_theta\"");
  expect_load_error({"rope_scaling", "yarn"});
}

TEST_F(BrokenModel, MissingConfig) {
  expect_load_error({"config.json", "not found"});
}

}  // namespace
}  // namespace slotlm
