// SPDX-License-Identifier: MIT
// The one decode loop (generate layer): prefill, optional SLOT on the prompt's hidden states,
// then token by token with `delta` added at the LM-head input. CLI, eval and server all use it;
// each generated id streams through a callback.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "generate/sampler.h"
#include "model/model.h"
#include "slot/slot.h"

namespace slotlm::gen {

struct GenerateOptions {
  int64_t n_predict = 128;              // max new tokens (-n)
  SamplerParams sampling;               // greedy by default
  std::vector<int32_t> stop_ids;        // stop on any of these (not emitted); default: model EOS ids
  slot::SlotOptions slot;               // steps = 0: SLOT off, exactly the plain model
  std::optional<std::vector<float>> delta;  // a given delta `[d_model]` (e.g. --slot-load): skips SLOT
  bool cache_prompt = false;            // on a Decoder with a PromptCache: start from the longest
                                        // cached prefix of the prompt, and keep this sequence's
                                        // rows when it finishes (see prompt_cache.h)
};

enum class FinishReason { kLength, kStop, kCancelled };
const char* finish_reason_name(FinishReason r);

struct Timings {
  double prompt_ms = 0, slot_ms = 0, gen_ms = 0;
  int64_t n_prompt = 0, n_gen = 0;
  int64_t n_cached = 0;  // prompt tokens taken from the prompt cache, not prefilled
  double prompt_tok_s() const { return prompt_ms > 0 ? 1000.0 * double(n_prompt - n_cached) / prompt_ms : 0; }
  double gen_tok_s() const { return gen_ms > 0 ? 1000.0 * double(n_gen) / gen_ms : 0; }
};

struct GenerateResult {
  std::vector<int32_t> tokens;         // generated ids, stop id excluded
  FinishReason finish = FinishReason::kLength;
  std::optional<slot::SlotResult> slot;  // set when SLOT ran or a delta was given
  Timings timings;
  size_t kv_bytes = 0;                 // KV cache size of this request
  int slot_batch = 0;                  // prompts optimised in the same optimize_batch call as this one
                                       // (slot_ms is their shared wall time); 0 when SLOT did not run
};

// Called with each generated id as soon as it is picked; return false to stop (cancel).
using TokenCallback = std::function<bool(int32_t)>;

// One sequence of a batch: its prompt, options and token callback, and optionally a check that
// its caller still wants it, polled while it waits for its prefill (a Decoder with a prefill
// chunk): once it returns true the sequence leaves, cancelled, before its next chunk or its SLOT.
struct BatchItem {
  std::span<const int32_t> prompt;
  GenerateOptions opt;
  TokenCallback on_token;
  std::function<bool()> cancelled = nullptr;
};

// Generates for several independent sequences at once, on a Decoder (decoder.h): each is
// prefilled on its own, SLOT runs for all of them together (slot::optimize_batch, one delta per
// sequence, when their SLOT options agree), then they decode in lock step, one Model::forward_batch
// per step, so the weights are streamed once per step for the whole batch. Each sequence has its
// own KV cache, sampler, delta, stop ids and callback; a finished or cancelled sequence leaves the
// batch (its gen_ms runs until then). `on_slot_step` gets the item index. Results are in item
// order and equal those of separate generate() calls up to f32 rounding.
std::vector<GenerateResult> generate_batch(const model::Model& m, std::span<const BatchItem> items,
                                           const slot::StepCallback& on_slot_step = {});

// Generates after `prompt` (>= 1 token). The KV cache is sized prompt + n_predict; a prompt that
// does not fit the model's context (max_position_embeddings) is refused with an Error.
GenerateResult generate(const model::Model& m, std::span<const int32_t> prompt,
                        const GenerateOptions& opt, const TokenCallback& on_token = {},
                        const slot::StepCallback& on_slot_step = {});

}  // namespace slotlm::gen
