// SPDX-License-Identifier: MIT
#include "server/stop_filter.h"

#include <algorithm>

namespace slotlm::server {

std::string StopFilter::push(const std::string& piece) {
  if (stopped_) return "";
  held_ += piece;
  // The earliest complete stop string wins; the text before it is emitted, the rest dropped.
  size_t cut = std::string::npos;
  for (const auto& s : stop_) cut = std::min(cut, held_.find(s));
  if (cut != std::string::npos) {
    stopped_ = true;
    std::string out = held_.substr(0, cut);
    held_.clear();
    return out;
  }
  // Hold back the longest tail that is a proper prefix of some stop string. Stop strings are valid
  // UTF-8, so such a tail starts on a character boundary and the emitted part stays whole.
  size_t keep = 0;
  for (const auto& s : stop_) {
    const size_t max_len = std::min(s.size() - 1, held_.size());
    for (size_t len = max_len; len > keep; --len) {
      if (held_.compare(held_.size() - len, len, s, 0, len) == 0) {
        keep = len;
        break;
      }
    }
  }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopFilter::flush() {
  std::string out;
  out.swap(held_);
  return stopped_ ? std::string() : out;
}

}  // namespace slotlm::server
