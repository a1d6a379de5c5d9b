// SPDX-License-Identifier: MIT
// slot::IncrementalSlot: a prompt's SLOT with its cached rows computed piece by piece, as a chunked
// prefill makes its hidden rows final, gives what slot::optimize gives for the whole prompt, on
// every memory plan of the fast path and on the reference path.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "golden.h"
#include "kernels/matmul.h"
#include "model/model.h"
#include "slot/slot.h"

namespace slotlm {
namespace {

// The pieces' LM-head products have other row counts than one product of the whole prompt: f32
// rounding only when both take the same kernel (~1e-7 relative); with oneDNN forced on for the
// larger products of bf16 weights, its 2-term split (~2^-17) besides. T = 4 steps of AdamW at lr
// 0.1 keep such differences at that level in delta and the losses.
constexpr double kIncrementalRelTol = 1e-4;

double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += double(a[i] - b[i]) * double(a[i] - b[i]);
    den += double(b[i]) * double(b[i]);
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

struct Plan {
  const char* name;
  size_t mem_budget;
  slot::Path path;
};

class IncrementalSlotPlans : public ::testing::TestWithParam<const char*> {};

TEST_P(IncrementalSlotPlans, RowsInPiecesGiveTheWholePromptsSlot) {
  auto m = model::Model::load(test::data_path(GetParam()));
  const auto ids = test::load_golden(GetParam(), "golden_forward.json")["prompt_ids"].get<std::vector<int32_t>>();
  ASSERT_GE(ids.size(), 12u);
  const std::vector<float> h = test::prefill(*m, ids);
  const size_t row_f32 = size_t(m->n_vocab()) * sizeof(float), rows = ids.size() - 1;
  const Plan plans[] = {{"cached", size_t(1) << 30, slot::Path::kFast},
                        {"cached-f16", rows * row_f32 / 2 + row_f32 * 2, slot::Path::kFast},
                        {"streamed", row_f32 * 3, slot::Path::kFast},
                        {"reference", size_t(1) << 30, slot::Path::kReference}};
  for (const bool onednn : {false, true}) {
    kernels::set_gemm_min_work(onednn ? 0 : kernels::kGemmMinWork);
    for (const Plan& p : plans) {
      slot::SlotOptions opt;
      opt.steps = 4;
      opt.mem_budget = p.mem_budget;
      opt.path = p.path;
      const slot::SlotResult whole = slot::optimize(*m, h.data(), ids, opt);
      ASSERT_EQ(whole.plan, p.name);
      slot::IncrementalSlot inc(*m, h.data(), ids, opt);
      for (const int64_t n : {3, 3, 7, 11, int(ids.size()), int(ids.size()) + 5}) inc.rows_ready(n);
      std::vector<int> steps_seen;
      const slot::SlotResult got = inc.optimize([&](size_t i, int step, double) {
        EXPECT_EQ(i, 0u);
        steps_seen.push_back(step);
      });
      const std::string what = std::string(p.name) + (onednn ? ", oneDNN" : ", gemv");
      EXPECT_TRUE(got.ran) << what;
      EXPECT_EQ(got.plan, whole.plan) << what;
      EXPECT_EQ(steps_seen, (std::vector<int>{1, 2, 3, 4})) << what;
      EXPECT_LE(rel_diff(got.delta, whole.delta), kIncrementalRelTol) << what;
      ASSERT_EQ(got.loss.size(), whole.loss.size()) << what;
      for (size_t t = 0; t < got.loss.size(); ++t)
        EXPECT_NEAR(got.loss[t], whole.loss[t], kIncrementalRelTol * std::abs(whole.loss[t])) << what << " step " << t;
      EXPECT_NEAR(got.loss_final, whole.loss_final, kIncrementalRelTol * std::abs(whole.loss_final)) << what;
      EXPECT_GT(got.ms, 0.0);
      // No rows given beforehand: optimize() computes them all.
      slot::IncrementalSlot late(*m, h.data(), ids, opt);
      EXPECT_LE(rel_diff(late.optimize().delta, whole.delta), kIncrementalRelTol) << what;
    }
  }
  kernels::set_gemm_min_work(kernels::kGemmMinWork);
}

INSTANTIATE_TEST_SUITE_P(Models, IncrementalSlotPlans, ::testing::Values("tiny-qwen2", "tiny-qwen2-bf16"),
                         [](const auto& info) { return test::param_name(info.param); });

TEST(IncrementalSlot, NothingToOptimiseAndBadOptions) {
  auto m = model::Model::load(test::data_path("tiny-qwen2"));
  const std::vector<int32_t> one = {5};
  const std::vector<float> h = test::prefill(*m, one);
  slot::SlotOptions opt;
  opt.steps = 3;
  slot::IncrementalSlot single(*m, h.data(), one, opt);
  single.rows_ready(1);
  const slot::SlotResult r = single.optimize();
  EXPECT_FALSE(r.ran) << "a 1-token prompt has no next-token pair";
  EXPECT_EQ(r.delta, std::vector<float>(size_t(m->d_model()), 0.f));
  opt.adam.lr = -1;
  EXPECT_THROW(slot::IncrementalSlot(*m, h.data(), one, opt), Error);
}

}  // namespace
}  // namespace slotlm
