// SPDX-License-Identifier: MIT
#include "eval/run_log.h"

#include <filesystem>

#include "core/error.h"
#include "core/log.h"

namespace slotlm::eval {

namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;
constexpr const char* kHeaderType = "header";
constexpr const char* kSampleType = "sample";

}  // namespace

std::string fnv1a_hex(std::string_view bytes) {
  uint64_t h = kFnvOffset;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= kFnvPrime;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

RunLog::RunLog(std::string path, nlohmann::json protocol)
    : path_(std::move(path)), protocol_(std::move(protocol)), protocol_hash_(fnv1a_hex(protocol_.dump())) {
  if (path_.empty()) return;
  const bool fresh = !std::filesystem::exists(path_) || std::filesystem::file_size(path_) == 0;
  bool needs_newline = false;
  if (!fresh) {
    read_existing();
    std::ifstream in(path_, std::ios::binary | std::ios::ate);
    if (in.tellg() > 0) {
      in.seekg(-1, std::ios::end);
      needs_newline = in.get() != '\n';  // cut right before its newline: end that line first
    }
  }
  out_.open(path_, std::ios::binary | std::ios::app);
  if (!out_) fail(path_, ": cannot open the log for appending");
  if (needs_newline) out_ << '\n';
  if (fresh) {
    nlohmann::json h = {{"type", kHeaderType}, {"protocol", protocol_}, {"protocol_hash", protocol_hash_}};
    out_ << h.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    out_.flush();
  }
}

void RunLog::read_existing() {
  std::ifstream in(path_, std::ios::binary);
  if (!in) fail(path_, ": cannot read the log");
  std::vector<std::string> lines;
  std::vector<std::streamoff> starts;  // byte offset of each line
  for (std::string l; (starts.push_back(in.tellg()), std::getline(in, l));) lines.push_back(std::move(l));
  in.close();
  bool seen_header = false;
  for (size_t i = 0; i < lines.size(); ++i) {
    const int64_t line_no = int64_t(i) + 1;
    if (lines[i].empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(lines[i]);
    } catch (const nlohmann::json::parse_error&) {
      if (i + 1 == lines.size() && seen_header) {  // a run killed mid-write: drop the partial line, then append
        log_info("slotlm eval: ", path_, ":", line_no, ": removing a cut-off last line (interrupted run)");
        std::filesystem::resize_file(path_, uintmax_t(starts[i]));
        continue;
      }
      fail(path_, ":", line_no, ": not a JSON line; is this a slotlm eval log? (refusing to append to it)");
    }
    if (!j.is_object() || !j.contains("type"))
      fail(path_, ":", line_no, ": not a slotlm eval log line (no \"type\"); refusing to append to it");
    if (j["type"] == kHeaderType) {
      if (j.value("protocol_hash", "") != protocol_hash_) refuse(j.value("protocol", nlohmann::json()), line_no);
      seen_header = true;
      continue;
    }
    if (!seen_header) fail(path_, ":", line_no, ": the log has no header line before its records; refusing it");
    if (j["type"] != kSampleType) continue;  // other line types: ignored, kept for later formats
    if (j.value("protocol_hash", "") != protocol_hash_) refuse(nlohmann::json(), line_no);
    std::pair<std::string, std::string> key{j.value("id", ""), j.value("mode_key", "")};
    rows_[std::move(key)] = std::move(j);
    ++n_resumed_;
  }
}

void RunLog::refuse(const nlohmann::json& other, int64_t line_no) const {
  std::string diff;
  if (other.is_object()) {
    for (const auto& [k, v] : protocol_.items()) {
      const auto it = other.find(k);
      if (it != other.end() && *it == v) continue;
      const std::string theirs = it == other.end() ? "absent" : it->dump();
      diff += str_cat(diff.empty() ? "" : "; ", k, ": log has ", theirs, ", this run ", v.dump());
    }
  }
  if (diff.empty()) diff = "its protocol hash differs";
  fail(path_, ":", line_no, ": this log was written by a different model/configuration (", diff,
       "); refusing to mix results: pass another --out file");
}

const nlohmann::json* RunLog::find(const std::string& id, const std::string& mode_key) const {
  const auto it = rows_.find({id, mode_key});
  return it == rows_.end() ? nullptr : &it->second;
}

void RunLog::append(nlohmann::json record) {
  record["type"] = kSampleType;
  record["protocol_hash"] = protocol_hash_;
  if (out_.is_open()) {
    out_ << record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
    out_.flush();
    if (!out_) fail(path_, ": write failed (disk full?)");
  }
  const std::string id = record.value("id", ""), key = record.value("mode_key", "");
  rows_[{id, key}] = std::move(record);
}

}  // namespace slotlm::eval
