// SPDX-License-Identifier: MIT
// The evaluation's JSONL log (eval layer): one header line describing the protocol, then one line
// per (sample, mode). Appended to and flushed per line, so an interrupted run resumes; a log written
// under a different protocol (model, data, prompt, decoding) is refused rather than mixed.
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

namespace slotlm::eval {

// FNV-1a 64-bit hash as 16 hex digits (identifies file contents and prompts in the header).
std::string fnv1a_hex(std::string_view bytes);

class RunLog {
 public:
  // Opens `path` for appending (creating it, and writing the header line, when absent or empty);
  // `path` "" keeps records in memory only. `protocol` is a JSON object; an existing log whose
  // header or records carry another protocol throws Error naming the differing keys. A truncated
  // last line (a run killed mid-write) is ignored with a warning; any other bad line throws.
  RunLog(std::string path, nlohmann::json protocol);

  // The record of (id, mode_key), or null.
  const nlohmann::json* find(const std::string& id, const std::string& mode_key) const;
  // Number of records read from the file at open time.
  size_t n_resumed() const { return n_resumed_; }
  // Adds `record` (an object; "type", "protocol" are filled in) and appends it as one line.
  void append(nlohmann::json record);
  const std::string& path() const { return path_; }

 private:
  void read_existing();
  [[noreturn]] void refuse(const nlohmann::json& other, int64_t line_no) const;

  std::string path_;
  nlohmann::json protocol_;
  std::string protocol_hash_;  // fnv1a_hex of protocol_.dump()
  std::ofstream out_;
  std::map<std::pair<std::string, std::string>, nlohmann::json> rows_;  // (id, mode_key) -> record
  size_t n_resumed_ = 0;
};

}  // namespace slotlm::eval
