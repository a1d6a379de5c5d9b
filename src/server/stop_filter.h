// SPDX-License-Identifier: MIT
// Stop strings on streamed text (server layer): text goes out as soon as it cannot be the start
// of a stop string; when one appears, everything from it on is dropped and generation should end.
#pragma once

#include <string>
#include <vector>

namespace slotlm::server {

class StopFilter {
 public:
  explicit StopFilter(std::vector<std::string> stop) : stop_(std::move(stop)) {}

  // Appends `piece` (whole UTF-8 characters) and returns the text that is now safe to emit. After a
  // stop string was found, `stopped()` is true and later pushes return "".
  std::string push(const std::string& piece);
  // The text held back at the end (a possible but unfinished stop-string prefix).
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stop_;
  std::string held_;  // tail that may be the beginning of a stop string
  bool stopped_ = false;
};

}  // namespace slotlm::server
