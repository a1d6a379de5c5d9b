// SPDX-License-Identifier: MIT
// `slotlm eval` end to end: the --compare table, the JSONL log, resume after an interruption, refusal
// of a log from another configuration, --batch, bad data lines, prompts longer than the context.
// Runs on tests/data/tiny-qwen2 (hermetic: a byte-level tokenizer.json written here, passed with
// --tokenizer) and on ../shared/models/tinystories-656k with the real GSM8K data (skipped without it).
#include <gtest/gtest.h>

#include <map>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "test_util.h"

namespace slotlm::test {
namespace {

namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("slotlm_eval_cli_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d.string();
}

void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<nlohmann::json> read_log(const std::string& path) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(path);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) rows.push_back(nlohmann::json::parse(l));
  return rows;
}

void append_utf8(std::string& s, uint32_t cp) {
  if (cp < 0x80) {
    s += char(cp);
  } else {
    s += char(0xC0 | (cp >> 6));
    s += char(0x80 | (cp & 0x3F));
  }
}

// A byte-level BPE tokenizer.json with no merges: token id = byte value, 256 tokens (tiny-qwen2's
// vocab_size); bytes are spelled with GPT-2's byte-to-unicode table, as every byte-level vocab is.
std::string byte_level_tokenizer_json() {
  nlohmann::json vocab = nlohmann::json::object();
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    std::string tok;
    append_utf8(tok, printable ? b : next++);
    vocab[tok] = b;
  }
  const nlohmann::json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true},
                                     {"use_regex", true}};
  return nlohmann::json({{"version", "1.0"}, {"added_tokens", nlohmann::json::array()},
                         {"normalizer", nullptr}, {"pre_tokenizer", byte_level}, {"post_processor", nullptr},
                         {"decoder", byte_level},
                         {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}}})
      .dump();
}

const char* kTinyData =
    "{\"question\": \"Tom has 3 apples and buys 4 more. How many apples?\", \"answer\": \"3+4=7\\n#### 7\"}\n"
    "{\"question\": \"A pen costs $2. How much do 5 pens cost?\", \"answer\": \"#### 10\"}\n"
    "{\"question\": \"What is 1,000 minus 1?\", \"answer\": \"#### 999\"}\n"
    "{\"question\": \"Half of 9?\", \"answer\": \"#### 4.5\"}\n"
    "{\"question\": \"Owe 3 dollars: balance?\", \"answer\": \"#### -3\"}\n";

class TinyQwen2Eval : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fresh_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ + "/tok");
    write(dir_ + "/tok/tokenizer.json", byte_level_tokenizer_json());
    write(dir_ + "/data.jsonl", kTinyData);
    write(dir_ + "/system.txt", "Answer briefly.");
  }
  // Runs `slotlm eval gsm8k` on tiny-qwen2 with `args`; stdout to `out`, stderr to dir_/err.txt.
  int eval(const std::string& args, std::string* out) {
    const std::string cmd = slotlm_binary() + " eval gsm8k -m " + data_path("tiny-qwen2") + " --tokenizer " + dir_ +
                            "/tok --system-file " + dir_ + "/system.txt -t 1 " + args + " 2>" + dir_ + "/err.txt";
    return run_command(cmd, out);
  }
  std::string err() const { return read(dir_ + "/err.txt"); }
  std::string dir_;
};

TEST_F(TinyQwen2Eval, CompareLogTableResume) {
  const std::string log = dir_ + "/log.jsonl";
  const std::string args = "--data " + dir_ + "/data.jsonl --limit 3 --seed 1 --compare --slot-steps 2 -n 12 --out " + log;
  std::string out;
  ASSERT_EQ(eval(args, &out), 0) << err();
  for (const char* s : {"accuracy", "95% CI", "format", "strict", "flexible", "loss before", "tok/s", "wall s",
                        "baseline", "slot", "paired (slot - baseline, 3 samples)", "fixed", "broken", "McNemar"})
    EXPECT_NE(out.find(s), std::string::npos) << "missing '" << s << "' in:\n" << out;
  EXPECT_NE(err().find("ETA"), std::string::npos) << err();
  auto rows = read_log(log);
  ASSERT_EQ(rows.size(), 7u);  // header + 3 samples x 2 modes
  EXPECT_EQ(rows[0]["type"], "header");
  int n_slot = 0;
  for (size_t i = 1; i < rows.size(); ++i) {
    const auto& r = rows[i];
    for (const char* k : {"id", "question", "completion", "extracted", "gold", "correct", "format_ok", "strict",
                          "flexible", "slot", "timings", "mode", "mode_key"})
      EXPECT_TRUE(r.contains(k)) << k << " missing in " << r.dump();
    EXPECT_FALSE(r.contains("error")) << r.dump();
    EXPECT_LE(r["timings"]["n_gen"].get<int>(), 12);
    if (r["mode"] == "slot") {
      ++n_slot;
      ASSERT_TRUE(r["slot"].is_object());
      EXPECT_EQ(r["slot"]["loss"].size(), 2u);
      EXPECT_LT(r["slot"]["loss_final"].get<double>(), r["slot"]["loss"][0].get<double>());
      EXPECT_EQ(r["mode_key"], "slot:T=2,lr=0.1,wd=1e-08,eps=1e-05,betas=0.9/0.999");
    } else {
      EXPECT_TRUE(r["slot"].is_null());
    }
  }
  EXPECT_EQ(n_slot, 3);

  // A complete rerun does nothing new and prints the same table (it is built from the log).
  std::string out2;
  ASSERT_EQ(eval(args, &out2), 0) << err();
  EXPECT_NE(err().find("resuming: 6 of 6"), std::string::npos) << err();
  EXPECT_EQ(out2, out);
  EXPECT_EQ(read_log(log).size(), 7u);

  // Interrupted run: drop the last two records and cut the one before in half.
  std::string text = read(log);
  for (int i = 0; i < 3; ++i) text.erase(text.rfind('\n', text.size() - 2) + 1);
  const std::string partial = read(log).substr(text.size(), 20);
  write(log, text + partial);
  ASSERT_EQ(eval(args, &out2), 0) << err();
  EXPECT_NE(err().find("resuming: 3 of 6"), std::string::npos) << err();
  EXPECT_NE(err().find("cut-off last line"), std::string::npos) << err();
  rows = read_log(log);  // every line parses again
  EXPECT_EQ(rows.size(), 7u);
  for (const char* col : {"baseline", "slot"}) EXPECT_NE(out2.find(col), std::string::npos);

  // Same log, other protocol (n_predict): refused with a message, the log untouched.
  const std::string before = read(log);
  EXPECT_NE(eval("--data " + dir_ + "/data.jsonl --limit 3 --seed 1 --compare --slot-steps 2 -n 13 --out " + log, &out2), 0);
  EXPECT_NE(err().find("different model/configuration"), std::string::npos) << err();
  EXPECT_NE(err().find("n_predict"), std::string::npos) << err();
  EXPECT_EQ(read(log), before);

  // Another SLOT setting shares the baseline rows (same protocol) and adds its own.
  ASSERT_EQ(eval("--data " + dir_ + "/data.jsonl --limit 3 --seed 1 --compare --slot-steps 3 -n 12 --out " + log, &out2), 0)
      << err();
  EXPECT_NE(err().find("resuming: 3 of 6"), std::string::npos) << err();
  EXPECT_EQ(read_log(log).size(), 10u);
}

TEST_F(TinyQwen2Eval, BatchMatchesSequentialSlot) {
  std::string out;
  const std::string common = "--data " + dir_ + "/data.jsonl --slot-steps 3 -n 10 -q";
  ASSERT_EQ(eval(common + " --out " + dir_ + "/seq.jsonl", &out), 0) << err();
  ASSERT_EQ(eval(common + " --batch 2 --out " + dir_ + "/batch.jsonl", &out), 0) << err();
  EXPECT_NE(err().find("continuous batching"), std::string::npos) << err();
  const auto seq = read_log(dir_ + "/seq.jsonl"), bat = read_log(dir_ + "/batch.jsonl");
  ASSERT_EQ(seq.size(), 6u);
  ASSERT_EQ(bat.size(), 6u);
  // Records are appended as samples finish: match them by id.
  std::map<std::string, nlohmann::json> by_id;
  for (size_t i = 1; i < bat.size(); ++i) by_id[bat[i]["id"].get<std::string>()] = bat[i];
  ASSERT_EQ(by_id.size(), 5u);
  int batched = 0;
  for (size_t i = 1; i < seq.size(); ++i) {
    const nlohmann::json& b = by_id.at(seq[i]["id"].get<std::string>());
    EXPECT_EQ(seq[i]["slot"]["batch"], 1);
    batched += b["slot"]["batch"].get<int>() == 2;
    // One delta per prompt: the same optimisation as alone, up to the matmul's rounding.
    for (size_t t = 0; t < 3; ++t)
      EXPECT_NEAR(seq[i]["slot"]["loss"][t].get<double>(), b["slot"]["loss"][t].get<double>(), 1e-4);
    EXPECT_NEAR(seq[i]["slot"]["loss_final"].get<double>(), b["slot"]["loss_final"].get<double>(), 1e-4);
    // Batched decode with each prompt's own delta: the same greedy completion as alone.
    EXPECT_EQ(seq[i]["completion"], b["completion"]) << seq[i]["id"];
  }
  // The first two samples join together (one optimize_batch); later ones join as others finish.
  EXPECT_GE(batched, 2);
}

TEST_F(TinyQwen2Eval, BadLinesLongPromptsAndMissingSystemPrompt) {
  write(dir_ + "/bad.jsonl", std::string(kTinyData) + "not json\n{\"question\": \"q\"}\n{\"question\": \"" +
                                 std::string(600, 'x') + "\", \"answer\": \"#### 1\"}\n");
  std::string out;
  ASSERT_EQ(eval("--data " + dir_ + "/bad.jsonl -n 4 -q --json", &out), 0) << err();
  EXPECT_NE(err().find("bad.jsonl:6: not valid JSON"), std::string::npos) << err();
  EXPECT_NE(err().find("bad.jsonl:7: missing field 'answer'"), std::string::npos) << err();
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["n_samples"], 6);
  EXPECT_EQ(j["modes"][0]["n"], 6);
  EXPECT_EQ(j["modes"][0]["errors"], 1);  // the 600-byte question does not fit the 512-token context
  EXPECT_NE(eval("--data " + dir_ + "/bad.jsonl -n 4 -q --strict", &out), 0);
  EXPECT_NE(err().find("bad.jsonl:6: not valid JSON"), std::string::npos) << err();
  // Without --system-file the GSM8K prompt is looked for beside the data file: absent here.
  const std::string cmd = slotlm_binary() + " eval gsm8k -m " + data_path("tiny-qwen2") + " --tokenizer " + dir_ +
                          "/tok --data " + dir_ + "/data.jsonl 2>" + dir_ + "/err.txt";
  EXPECT_NE(run_command(cmd, &out), 0);
  EXPECT_NE(err().find("--system-file"), std::string::npos) << err();
}

TEST(TinyStoriesEval, Gsm8kCompareAndResume) {
  SLOTLM_REQUIRE_SHARED(model, "models/tinystories-656k/config.json");
  SLOTLM_REQUIRE_SHARED(data, "data/gsm8k/test.jsonl");
  const std::string dir = fresh_dir("tinystories");
  const std::string log = dir + "/log.jsonl";
  const std::string cmd = slotlm_binary() + " eval gsm8k -m " + fs::path(model).parent_path().string() + " --data " +
                          data + " --limit 3 --compare --out " + log + " -t 1 2>" + dir + "/err.txt";
  std::string out;
  ASSERT_EQ(run_command(cmd, &out), 0) << read(dir + "/err.txt");
  std::printf("%s", out.c_str());
  const std::string err = read(dir + "/err.txt");
  EXPECT_NE(err.find("no chat template; using the built-in 'chatml'"), std::string::npos) << err;
  EXPECT_NE(out.find("3 of 1319 samples"), std::string::npos) << out;
  EXPECT_NE(out.find("paired (slot - baseline, 3 samples)"), std::string::npos) << out;
  const auto rows = read_log(log);
  ASSERT_EQ(rows.size(), 7u);
  for (size_t i = 1; i < rows.size(); ++i) {
    EXPECT_FALSE(rows[i].contains("error")) << rows[i].dump();
    if (rows[i]["mode"] == "slot") {
      EXPECT_EQ(rows[i]["slot"]["loss"].size(), 5u);  // --compare default T = 5
    }
  }
  std::string out2;
  ASSERT_EQ(run_command(cmd, &out2), 0);
  EXPECT_NE(read(dir + "/err.txt").find("resuming: 6 of 6"), std::string::npos);
  EXPECT_EQ(out2, out);
}

TEST(TinyStoriesEval, Aime24Runs) {
  SLOTLM_REQUIRE_SHARED(model, "models/tinystories-656k/config.json");
  SLOTLM_REQUIRE_SHARED(data, "data/aime24/test.jsonl");
  const std::string dir = fresh_dir("aime");
  const std::string cmd = slotlm_binary() + " eval aime24 -m " + fs::path(model).parent_path().string() +
                          " --data " + data + " --limit 2 --slot-steps 2 -n 16 -q --json --out " + dir +
                          "/log.jsonl 2>" + dir + "/err.txt";
  std::string out;
  ASSERT_EQ(run_command(cmd, &out), 0) << read(dir + "/err.txt");
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["task"], "aime24");
  EXPECT_EQ(j["modes"][0]["mode"], "slot");
  EXPECT_EQ(j["modes"][0]["n"], 2);
  EXPECT_EQ(read_log(dir + "/log.jsonl").size(), 3u);
}

}  // namespace
}  // namespace slotlm::test
