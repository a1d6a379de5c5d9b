// SPDX-License-Identifier: MIT
// SLOT: per-prompt test-time optimisation of one vector `delta` added before the LM head
// (slot layer; ../shared/SLOT.md, Hu et al. 2025, arXiv 2505.12392). Depends on model/ and below.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/model.h"
#include "slot/adamw.h"

namespace slotlm::slot {

enum class Path {
  kFast,       // z0 = W h cached once, each step two mat-vecs + passes over cached rows (default)
  kReference,  // recompute W (h + delta) for every position each step, as the PyTorch reference does
};

struct SlotOptions {
  int steps = 0;                      // T, AdamW steps; 0 = SLOT off (exactly the plain model)
  AdamWParams adam;                   // lr 0.1, betas 0.9/0.999, eps 1e-5, weight decay 1e-8
  Path path = Path::kFast;            // which implementation computes the loss and gradient
  // Bytes for the fast path's cached prompt rows ((N-1) x V): f32 if they fit, else f16, else f32
  // chunks recomputed each step. Default 1 GiB (--slot-mem).
  size_t mem_budget = size_t(1) << 30;
};

// Upper bounds validate() holds options to. Each step costs about two mat-vecs over the LM head,
// so 100 steps is already ~20x the paper's T; a learning rate or weight decay of 1000 moves every
// coordinate of delta by ~1000 per step, far past any useful change of the final hidden state
// (the paper uses lr 0.01 to 0.1), and much larger values overflow the logits to NaN.
inline constexpr int kMaxSteps = 100;
inline constexpr double kMaxLr = 1e3;
inline constexpr double kMaxWeightDecay = 1e3;

// Validates options; throws Error naming the flag ("--slot-lr must be > 0", ...).
void validate(const SlotOptions& opt);

struct SlotResult {
  std::vector<float> delta;   // [d_model] final delta
  std::vector<double> loss;   // [T] loss[i] = L(delta_i), before step i+1 (loss[0]: plain model)
  double loss_final = 0;      // L(delta_T)
  double delta_norm = 0;      // |delta_T|_2
  double ms = 0;              // wall time of the optimisation
  bool ran = false;           // false when T = 0 or the prompt has < 2 tokens (no next-token pairs)
  // The step whose update made the loss or delta non-finite (an lr or weight decay far too large
  // for this prompt), 0 if none. The optimisation stopped there: delta, loss_final and the loss
  // list are those of the last finite delta, so generation goes on from it.
  int diverged_step = 0;
  std::string plan;           // memory plan used: "cached", "cached-f16", "streamed", "reference"
};

struct PromptRef {
  const float* hidden;            // [n, d_model]
  std::span<const int32_t> ids;   // [n]
};

// Called after each step with (prompt index, step index from 1, loss before that step).
using StepCallback = std::function<void(size_t, int, double)>;

// One prompt: `hidden` `[n, d_model]` final normed hidden states of `ids` `[n]` (from forward()).
// Minimises the mean next-token cross-entropy (1/(n-1)) sum_{i<n-1} CE(W (h_i + delta), ids[i+1]).
SlotResult optimize(const model::Model& m, const float* hidden, std::span<const int32_t> ids,
                    const SlotOptions& opt, const StepCallback& on_step = {});

// Mean next-token cross-entropy of the prompt under `delta` (exact, row by row).
double prompt_loss(const model::Model& m, const float* hidden, std::span<const int32_t> ids,
                   const float* delta);

// Several prompts at once, ONE delta per prompt: each loss uses only its own prompt's tokens, no
// padding and no cross-prompt pairs (unlike the vLLM port, which shares one delta per batch).
std::vector<SlotResult> optimize_batch(const model::Model& m, std::span<const PromptRef> prompts,
                                       const SlotOptions& opt, const StepCallback& on_step = {});

class Objective;

// SLOT for one prompt whose hidden states arrive in pieces (a prefill in chunks, gen::Decoder):
// the fast path computes its cached rows (the prompt's logits, the bulk of SLOT's work) as the
// hidden rows become final, so optimize() at the end only takes the T steps. The same maths as
// optimize(), up to f32 rounding (the LM-head products have other row counts). `hidden` `[n,
// d_model]` must stay valid until optimize(); validates `opt` (throws Error).
class IncrementalSlot {
 public:
  IncrementalSlot(const model::Model& m, const float* hidden, std::span<const int32_t> ids, const SlotOptions& opt);
  ~IncrementalSlot();
  IncrementalSlot(const IncrementalSlot&) = delete;
  IncrementalSlot& operator=(const IncrementalSlot&) = delete;
  // Rows [0, n) of `hidden` are final.
  void rows_ready(int64_t n);
  // Computes what rows_ready() has not, then the steps. Call once. `ms` counts the rows' time too.
  SlotResult optimize(const StepCallback& on_step = {});

 private:
  const model::Model& m_;
  SlotOptions opt_;
  int64_t n_rows_;
  std::unique_ptr<Objective> obj_;
  double ms_ = 0;
};

}  // namespace slotlm::slot
