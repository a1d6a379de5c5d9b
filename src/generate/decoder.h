// SPDX-License-Identifier: MIT
// Continuous batching (generate layer): one decode loop that sequences join between steps and
// leave as they finish, one pass over the weights per step for all of them. generate_batch(), the
// server and eval run on it. Uses model/ and slot/ only.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "generate/generate.h"
#include "generate/prompt_cache.h"

namespace slotlm::gen {

// A sequence that left the batch: the id add() gave it, and what it generated.
struct Finished {
  int64_t id = 0;
  GenerateResult result;
};

class Decoder {
 public:
  // `m` (and `cache`, when given: the prompt cache of items with cache_prompt) must outlive the
  // Decoder. One thread uses a Decoder at a time.
  explicit Decoder(const model::Model& m, PromptCache* cache = nullptr);
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // 0 (the default): add() prefills whole prompts. n > 0: add() only queues them, and each step()
  // also prefills up to n tokens of the queued prompts, those with the fewest tokens left first
  // (each prompt's SLOT runs alone once it is prefilled), so the sequences already decoding go on
  // while a long prompt prefills, and a short prompt does not wait for a long one queued before
  // it. The chunks run in the same forward as the decoding sequences' tokens, which take the place
  // of as many prompt tokens (Model::forward_segments, one pass over the weights for all), or
  // before the step when nothing decodes, and the prompts they finish then decode in that step.
  // A prompt prefilled in pieces gets the rows of one prefill up to f32 rounding only (a product's
  // rows depend on how many it has), and so do the tokens that ride with a chunk: the server uses
  // it; generate_batch and eval do not.
  void set_prefill_chunk(int64_t n);
  // Benchmarks: false runs each step's chunk, of the oldest queued prompt only, as a forward of
  // its own before the decode forward (two passes over the weights), as before forward_segments.
  // Default true.
  void set_mixed_steps(bool on);

  // Checks every item first (an Error before any work when one is bad: nothing is added), then
  // prefills each on its own, runs SLOT for those that ask for it (in one slot::optimize_batch
  // when their options agree, else one by one) and adds them; they decode from the next step()
  // (with a prefill chunk, the steps do the prefill and SLOT instead).
  // Returns their ids: consecutive, in item order, never reused. A sequence with nothing to
  // generate (n_predict 0) finishes at once. The prompts are copied; each item's callback is kept
  // until its sequence finishes. `on_slot_step` gets the item's index in `items`.
  std::vector<int64_t> add(std::span<const BatchItem> items, const slot::StepCallback& on_slot_step = {});

  // One decode step for every active sequence: the LM head with its delta, its sampler, its
  // stop ids and callback, then one forward of the picked tokens for those that go on
  // (Model::forward_batch). Sequences that finish leave the batch; take_finished() has them.
  // A sequence gets the same tokens whatever else is in the batch (up to f32 rounding). Allocates
  // nothing once add() has sized the buffers.
  void step();

  // Sequences added and not finished: decoding, or queued for their prefill.
  size_t n_active() const { return active_.size() + pending_.size(); }

  // The sequences that finished since the last call, in the order they finished.
  std::vector<Finished> take_finished();

 private:
  struct Seq;
  // Sizes the per-step buffers and the finished list for the active sequences (in add()).
  void reserve_for_active();
  // Moves a finished sequence's result to finished_ (and its rows to the prompt cache).
  void retire(Seq& s);
  // A sequence for `it` with its buffers, cache and the prompt cache's prefix, not prefilled yet.
  std::unique_ptr<Seq> make_seq(const BatchItem& it, int64_t index, const slot::StepCallback& on_slot_step);
  // Prefills up to `max_tokens` more of the sequence's prompt.
  void prefill(Seq& s, int64_t max_tokens);
  // SLOT for `group` (same options) in one slot::optimize_batch.
  void run_slot(std::span<Seq* const> group);
  // The steps of a queued sequence's IncrementalSlot, once its prompt is prefilled.
  void finish_incremental_slot(Seq& s);
  // A prefilled sequence starts decoding (or finishes, with nothing to generate).
  void join(std::unique_ptr<Seq> s);
  // One prefill chunk of the oldest queued sequence; it joins when its prompt is done.
  void advance_prefill();
  // Queued sequences whose prompt is all in their cache run their SLOT and join, in queue order
  // (after drop_cancelled).
  void join_prefilled();
  // Queued sequences whose BatchItem::cancelled says so leave, finished as cancelled.
  void drop_cancelled();
  // The forward of the `m` sequences going on (next_[0, m), caches_[0, m)) with chunks of the
  // queued prompts after them, fewest tokens left first, up to the prefill chunk in all; then
  // join_prefilled.
  void forward_chunks(int64_t m);
  // Rows [0, m) of `rows` `[m, d_model]` are the next LM-head inputs of active_[0, m).
  void take_rows(const float* rows, int64_t m);

  const model::Model& m_;
  PromptCache* prompt_cache_;
  int64_t next_id_ = 0;
  model::Workspace ws_;
  double slot_row_cost_;                      // the LM head's cost per prompt row, over the layers'
  int64_t prefill_chunk_ = 0;
  bool mixed_ = true;                         // set_mixed_steps
  std::deque<std::unique_ptr<Seq>> pending_;  // queued for their prefill (prefill_chunk_ > 0)
  std::vector<std::unique_ptr<Seq>> active_;  // decode order: join order
  std::vector<std::unique_ptr<Seq>> still_;   // reused by step(): the ones that go on
  std::vector<Finished> finished_;
  std::vector<float> h_, logits_;             // [n, d_model] LM-head inputs, [n, V] logits
  std::vector<int32_t> picked_, next_;
  std::vector<model::KvCache*> caches_;
  std::vector<float> mixed_h_;                // [n + chunk, d_model] a step's rows with a chunk
  std::vector<int32_t> mixed_tokens_;
  std::vector<model::Model::Segment> segs_;
  struct Chunk {
    Seq* seq;
    int64_t n;  // its prompt tokens in this step's forward
  };
  std::vector<Chunk> plan_;                   // forward_chunks' queued prompts, in the order served
};

}  // namespace slotlm::gen
