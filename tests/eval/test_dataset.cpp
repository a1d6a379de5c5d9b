// SPDX-License-Identifier: MIT
// JSONL reading (bad lines with their line numbers, --strict), seeded subsets, and the run log
// (resume, cut-off last line, refusal of another protocol).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.h"
#include "eval/dataset.h"
#include "eval/run_log.h"
#include "test_util.h"

namespace slotlm::eval {
namespace {

namespace fs = std::filesystem;

std::string temp_file(const std::string& name, const std::string& text) {
  const fs::path dir = fs::temp_directory_path() / ("slotlm_test_eval_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path p = dir / name;
  std::ofstream(p, std::ios::binary) << text;
  return p.string();
}

const char* kGsmLines =
    "{\"question\": \"Q1\", \"answer\": \"x\\n#### 1,000\"}\n"
    "not json\n"
    "\n"
    "{\"question\": \"Q3\"}\n"
    "{\"question\": \"Q4\", \"answer\": \"no marker\"}\n"
    "{\"question\": 5, \"answer\": \"#### 5\"}\n"
    "{\"question\": \"Q6\", \"answer\": \"#### -2.50\"}\n";

TEST(Dataset, BadLinesReportedWithLineNumbers) {
  const std::string p = temp_file("gsm.jsonl", kGsmLines);
  const Dataset ds = load_dataset(p, Task::kGsm8k, false);
  ASSERT_EQ(ds.samples.size(), 2u);
  EXPECT_EQ(ds.samples[0].id, "1");
  EXPECT_EQ(ds.samples[0].gold, "1000");
  EXPECT_EQ(ds.samples[1].id, "7");
  EXPECT_EQ(ds.samples[1].line, 7);
  EXPECT_EQ(ds.samples[1].gold, "-2.5");
  ASSERT_EQ(ds.problems.size(), 4u);
  EXPECT_NE(ds.problems[0].find(":2: not valid JSON"), std::string::npos) << ds.problems[0];
  EXPECT_NE(ds.problems[1].find(":4: missing field 'answer'"), std::string::npos) << ds.problems[1];
  EXPECT_NE(ds.problems[2].find(":5: "), std::string::npos) << ds.problems[2];
  EXPECT_NE(ds.problems[3].find(":6: missing string field 'question'"), std::string::npos) << ds.problems[3];
}

TEST(Dataset, StrictRefuses) {
  const std::string p = temp_file("gsm_strict.jsonl", kGsmLines);
  try {
    load_dataset(p, Task::kGsm8k, true);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(":2: not valid JSON"), std::string::npos) << e.what();
  }
}

TEST(Dataset, AimeIdsAndLeadingZeros) {
  const std::string p = temp_file("aime.jsonl",
                                  "{\"id\":60,\"problem\":\"P\",\"answer\":\"025\"}\n"
                                  "{\"id\":61,\"question\":\"Q\",\"answer\":7}\n");
  const Dataset ds = load_dataset(p, Task::kAime24, true);
  ASSERT_EQ(ds.samples.size(), 2u);
  EXPECT_EQ(ds.samples[0].id, "60");
  EXPECT_EQ(ds.samples[0].gold, "25");
  EXPECT_EQ(ds.samples[1].question, "Q");
  EXPECT_EQ(ds.samples[1].gold, "7");
}

TEST(Dataset, DuplicateIdsAndEmptyFilesRefused) {
  EXPECT_THROW(load_dataset(temp_file("dup.jsonl", "{\"id\":1,\"problem\":\"P\",\"answer\":\"1\"}\n"
                                                   "{\"id\":1,\"problem\":\"P\",\"answer\":\"2\"}\n"),
                            Task::kAime24, false),
               Error);
  EXPECT_THROW(load_dataset(temp_file("empty.jsonl", "\n"), Task::kGsm8k, false), Error);
  EXPECT_THROW(load_dataset("/nonexistent/file.jsonl", Task::kGsm8k, false), Error);
}

TEST(Dataset, RealFilesParseCleanly) {
  SLOTLM_REQUIRE_SHARED(gsm, "data/gsm8k/test.jsonl");
  const Dataset g = load_dataset(gsm, Task::kGsm8k, true);
  EXPECT_EQ(g.samples.size(), 1319u);
  EXPECT_EQ(g.samples[0].gold, "18");
  SLOTLM_REQUIRE_SHARED(aime, "data/aime24/test.jsonl");
  const Dataset a = load_dataset(aime, Task::kAime24, true);
  EXPECT_EQ(a.samples.size(), 30u);
  EXPECT_EQ(a.samples[0].id, "60");
  EXPECT_EQ(a.samples[0].gold, "204");
}

TEST(SampleIndices, SeededSortedDistinct) {
  const auto a = sample_indices(1319, 50, 7), b = sample_indices(1319, 50, 7), c = sample_indices(1319, 50, 8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  ASSERT_EQ(a.size(), 50u);
  EXPECT_TRUE(std::is_sorted(a.begin(), a.end()));
  EXPECT_EQ(std::set<size_t>(a.begin(), a.end()).size(), 50u);
  EXPECT_LT(a.back(), 1319u);
  EXPECT_EQ(sample_indices(5, 9, 1), (std::vector<size_t>{0, 1, 2, 3, 4}));
  // Pinned: the same subset on every platform (std::mt19937_64 is fully specified).
  EXPECT_EQ(sample_indices(10, 3, 0), sample_indices(10, 3, 0));
  // Every index is reachable: over many seeds, each of 10 items gets picked.
  std::set<size_t> seen;
  for (uint64_t s = 0; s < 64; ++s)
    for (size_t i : sample_indices(10, 2, s)) seen.insert(i);
  EXPECT_EQ(seen.size(), 10u);
}

TEST(RunLog, ResumeAndRefuse) {
  const std::string p = temp_file("log.jsonl", "");
  fs::remove(p);
  const nlohmann::json proto = {{"task", "gsm8k"}, {"model", "/m"}, {"n_predict", 512}};
  {
    RunLog log(p, proto);
    EXPECT_EQ(log.n_resumed(), 0u);
    log.append({{"id", "1"}, {"mode_key", "baseline"}, {"correct", true}});
    log.append({{"id", "1"}, {"mode_key", "slot:T=5"}, {"correct", false}});
  }
  {
    std::ofstream(p, std::ios::app) << "{\"type\":\"sample\",\"id\":\"2\",\"mo";  // killed mid-write
  }
  {
    RunLog log(p, proto);
    EXPECT_EQ(log.n_resumed(), 2u);
    ASSERT_NE(log.find("1", "baseline"), nullptr);
    EXPECT_TRUE((*log.find("1", "baseline"))["correct"].get<bool>());
    EXPECT_EQ(log.find("2", "baseline"), nullptr);
    log.append({{"id", "2"}, {"mode_key", "baseline"}, {"correct", false}});
  }
  {
    RunLog log(p, proto);  // the cut-off line was removed; the file is clean JSONL again
    EXPECT_EQ(log.n_resumed(), 3u);
    EXPECT_NE(log.find("2", "baseline"), nullptr);
  }
  // Another protocol: refused, naming the differing key.
  nlohmann::json other = proto;
  other["n_predict"] = 16;
  try {
    RunLog log(p, other);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("different model/configuration"), std::string::npos) << msg;
    EXPECT_NE(msg.find("n_predict: log has 512, this run 16"), std::string::npos) << msg;
  }
  // Not a log at all: refused.
  EXPECT_THROW(RunLog(temp_file("notalog.jsonl", "hello\nworld\n"), proto), Error);
}

}  // namespace
}  // namespace slotlm::eval
