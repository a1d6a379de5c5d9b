// SPDX-License-Identifier: MIT
// Benchmark data (eval layer): reading GSM8K / AIME24 JSONL files line by line (bad lines reported
// with their line number), and reproducible seeded subsets for --limit. Depends on core only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace slotlm::eval {

enum class Task {
  kGsm8k,   // {"question", "answer": "... #### N"}; ../shared/data/gsm8k/SOURCE.md
  kAime24,  // {"id", "problem", "answer": "025", ...}; ../shared/data/aime24/SOURCE.md
};
const char* task_name(Task t);

struct Sample {
  std::string id;        // "id" field when the file has one, else the 1-based line number
  std::string question;  // the user turn
  std::string gold;      // canonical number (answer.h `canonical_number`)
  int64_t line = 0;      // 1-based line in the file
};

struct Dataset {
  std::vector<Sample> samples;        // valid lines, in file order
  std::vector<std::string> problems;  // one "FILE:LINE: reason" per skipped line
};

// Reads `path`. A line that is not JSON, lacks a field or has no numeric answer is recorded in
// `problems` and skipped; with `strict` the first such line throws Error instead. Blank lines are
// ignored. Duplicate ids are always an Error (resuming keys on them). Throws when the file cannot
// be read or holds no valid sample.
Dataset load_dataset(const std::string& path, Task task, bool strict);

// `k` distinct indices of [0, n), chosen uniformly by a seeded partial Fisher-Yates shuffle and
// returned sorted; all of [0, n) when k >= n. Same (n, k, seed), same subset on every platform
// (std::mt19937_64 and our own unbiased bounded draw; no implementation-defined distributions).
std::vector<size_t> sample_indices(size_t n, size_t k, uint64_t seed);

}  // namespace slotlm::eval
