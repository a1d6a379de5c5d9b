// SPDX-License-Identifier: MIT
#include "eval/dataset.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <unordered_set>

#include "core/error.h"
#include "eval/answer.h"

namespace slotlm::eval {

namespace {

// Fills `s` from one parsed line; returns "" or the reason the line is unusable.
std::string read_sample(const nlohmann::json& j, Task task, Sample* s) {
  if (!j.is_object()) return "expected a JSON object";
  const char* q_key = task == Task::kGsm8k ? "question" : "problem";
  auto q = j.find(q_key);
  if (q == j.end() && task == Task::kAime24) q = j.find("question");
  if (q == j.end() || !q->is_string()) return str_cat("missing string field '", q_key, "'");
  s->question = q->get<std::string>();
  const auto a = j.find("answer");
  if (a == j.end()) return "missing field 'answer'";
  if (task == Task::kGsm8k) {
    if (!a->is_string()) return "field 'answer' is not a string";
    const auto gold = gsm8k_gold(a->get<std::string>());
    if (!gold) return "field 'answer' has no number after '####'";
    s->gold = *gold;
  } else {
    std::optional<std::string> gold;
    if (a->is_string()) gold = canonical_number(a->get<std::string>());
    else if (a->is_number_integer()) gold = canonical_number(std::to_string(a->get<int64_t>()));
    if (!gold) return "field 'answer' is not a number";
    s->gold = *gold;
  }
  const auto id = j.find("id");
  if (id != j.end() && id->is_string()) s->id = id->get<std::string>();
  else if (id != j.end() && id->is_number_integer()) s->id = std::to_string(id->get<int64_t>());
  else s->id = std::to_string(s->line);
  return "";
}

// Unbiased draw from [0, bound): modulo with rejection of the top partial range, easy to
// reproduce in another language.
uint64_t draw_below(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t x = 0;
  do x = rng();
  while (x >= limit);
  return x % bound;
}

}  // namespace

const char* task_name(Task t) { return t == Task::kGsm8k ? "gsm8k" : "aime24"; }

Dataset load_dataset(const std::string& path, Task task, bool strict) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, ": cannot open the data file");
  Dataset ds;
  std::unordered_set<std::string> ids;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    Sample s;
    s.line = line_no;
    std::string why;
    try {
      why = read_sample(nlohmann::json::parse(line), task, &s);
    } catch (const nlohmann::json::parse_error&) {
      why = "not valid JSON";
    }
    if (!why.empty()) {
      std::string msg = str_cat(path, ":", line_no, ": ", why);
      if (strict) fail(msg, " (--strict refuses bad lines)");
      ds.problems.push_back(std::move(msg));
      continue;
    }
    if (!ids.insert(s.id).second) fail(path, ":", line_no, ": duplicate id '", s.id, "'");
    ds.samples.push_back(std::move(s));
  }
  if (ds.samples.empty()) fail(path, ": no valid ", task_name(task), " sample in the file");
  return ds;
}

std::vector<size_t> sample_indices(size_t n, size_t k, uint64_t seed) {
  std::vector<size_t> idx(n);
  for (size_t i = 0; i < n; ++i) idx[i] = i;
  if (k >= n) return idx;
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < k; ++i) std::swap(idx[i], idx[i + draw_below(rng, n - i)]);
  idx.resize(k);
  std::sort(idx.begin(), idx.end());
  return idx;
}

}  // namespace slotlm::eval
