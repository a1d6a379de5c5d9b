// SPDX-License-Identifier: MIT
// StreamDecoder (declared in tokenizer.h): incremental decoding by differences of full decodes over
// a short window of recent ids, the approach of HF tokenizers' `DecodeStream`.
#include <string_view>

#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace slotlm::tok {
namespace {

// Ids kept as left context once the window is trimmed: decoders such as Strip, Metaspace and
// ByteFallback look at neighbouring tokens, so the new text is the difference of two decodes that
// share this context.
constexpr size_t kContextIds = 4;
// The window is trimmed once it holds this many ids, keeping each push O(window).
constexpr size_t kTrimAt = 32;

bool ends_with_replacement(const std::string& s) {
  return s.size() >= kReplacementUtf8.size() &&
         std::string_view(s).substr(s.size() - kReplacementUtf8.size()) == kReplacementUtf8;
}

}  // namespace

std::string StreamDecoder::push(int32_t id) {
  ids_.push_back(id);
  const std::string text = tok_.decode(ids_, skip_special_);
  // A trailing U+FFFD usually means a character cut in half by the token boundary: wait for more.
  if (text.size() <= emitted_ || ends_with_replacement(text)) return {};
  std::string out = text.substr(emitted_);
  emitted_ = text.size();
  if (ids_.size() >= kTrimAt) {
    // Keep the last ids whose own decode is exactly the tail of `text` (so the next difference
    // is computed against the same context) and non-empty (so Strip-like decoders act the same).
    for (size_t keep = kContextIds; keep < ids_.size(); ++keep) {
      std::vector<int32_t> tail(ids_.end() - static_cast<std::ptrdiff_t>(keep), ids_.end());
      const std::string t = tok_.decode(tail, skip_special_);
      if (!t.empty() && t.size() <= text.size() &&
          text.compare(text.size() - t.size(), t.size(), t) == 0 && !ends_with_replacement(t) &&
          t.find(kReplacementUtf8) == std::string::npos) {
        ids_ = std::move(tail);
        emitted_ = t.size();
        break;
      }
      if (keep >= kTrimAt / 2) break;  // no clean cut nearby; try again after the next push
    }
  }
  return out;
}

std::string StreamDecoder::flush() {
  const std::string text = tok_.decode(ids_, skip_special_);
  std::string out = text.size() > emitted_ ? text.substr(emitted_) : std::string();
  ids_.clear();
  emitted_ = 0;
  return out;
}

}  // namespace slotlm::tok
