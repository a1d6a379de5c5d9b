// SPDX-License-Identifier: MIT
#include "generate/generate.h"

#include "generate/decoder.h"

namespace slotlm::gen {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kLength: return "length";
    case FinishReason::kStop: return "stop";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "?";
}

std::vector<GenerateResult> generate_batch(const model::Model& m, std::span<const BatchItem> items,
                                           const slot::StepCallback& on_slot_step) {
  Decoder dec(m);
  const std::vector<int64_t> ids = dec.add(items, on_slot_step);
  while (dec.n_active() > 0) dec.step();
  std::vector<GenerateResult> res(items.size());
  for (Finished& f : dec.take_finished()) res[size_t(f.id - ids.front())] = std::move(f.result);
  return res;
}

GenerateResult generate(const model::Model& m, std::span<const int32_t> prompt,
                        const GenerateOptions& opt, const TokenCallback& on_token,
                        const slot::StepCallback& on_slot_step) {
  const BatchItem item{prompt, opt, on_token};
  return std::move(generate_batch(m, std::span<const BatchItem>(&item, 1), on_slot_step)[0]);
}

}  // namespace slotlm::gen
