// SPDX-License-Identifier: MIT
// SLOT against torch.optim.AdamW + nn.CrossEntropyLoss in float64 (tools/reference_slot.py):
// per-step losses, final delta and greedy ids with delta applied, for a tiny Qwen2 and Llama-3.
#include <gtest/gtest.h>

#include <cmath>

#include "generate/generate.h"
#include "golden.h"
#include "model/model.h"
#include "slot/slot.h"

namespace slotlm {
namespace {

// f32 engine vs float64 reference: hidden states differ by ~1e-7 relative, the losses and the
// Adam-normalised deltas inherit that; 1e-5 (the bound) leaves an order of magnitude.
constexpr double kLossRelTol = 1e-5;
constexpr double kDeltaRelTol = 1e-5;
// bf16/f16 weights are upcast exactly (the bf16 prefill GEMM splits activations into two bf16 terms,
// ~2^-17 relative), so every checkpoint meets the f32 bound.

double rel_diff(double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-12); }

class SlotGolden : public ::testing::TestWithParam<std::tuple<const char*, slot::Path>> {};

TEST_P(SlotGolden, LossesDeltaAndGreedyMatchTorchAdamW) {
  const auto [folder, path] = GetParam();
  auto m = model::Model::load(test::data_path(folder));
  const auto g = test::load_golden(folder, "golden_slot.json");
  const double loss_tol = kLossRelTol, delta_tol = kDeltaRelTol;
  int checked = 0;
  for (const auto& c : g["cases"]) {
    const int steps = c["steps"].get<int>();
    if (steps == 0) continue;
    const auto ids = c["prompt_ids"].get<std::vector<int32_t>>();
    const auto h = test::prefill(*m, ids);
    slot::SlotOptions opt;
    opt.steps = steps;
    opt.adam.lr = c["lr"].get<double>();
    opt.path = path;
    const auto r = slot::optimize(*m, h.data(), ids, opt);
    const std::string what = std::string(folder) + " T=" + std::to_string(steps) + " lr=" +
                             std::to_string(opt.adam.lr) + " N=" + std::to_string(ids.size());
    ASSERT_TRUE(r.ran) << what;
    const auto want_loss = c["loss"].get<std::vector<double>>();
    ASSERT_EQ(r.loss.size(), want_loss.size()) << what;
    for (size_t i = 0; i < want_loss.size(); ++i)
      EXPECT_LE(rel_diff(r.loss[i], want_loss[i]), loss_tol) << what << " loss[" << i << "]";
    EXPECT_LE(rel_diff(r.loss_final, c["loss_final"].get<double>()), loss_tol) << what << " loss_final";
    const auto want_delta = c["delta"].get<std::vector<double>>();
    EXPECT_LE(test::max_row_rel_error(r.delta.data(), want_delta, 1, want_delta.size()), delta_tol) << what;
    EXPECT_LE(rel_diff(r.delta_norm, c["delta_norm"].get<double>()), delta_tol) << what;

    gen::GenerateOptions go;
    go.n_predict = int64_t(c["greedy_ids"].size());
    go.slot = opt;
    const auto out = gen::generate(*m, ids, go);
    EXPECT_EQ(out.tokens, c["greedy_ids"].get<std::vector<int32_t>>()) << what << " greedy ids with delta";
    ++checked;
  }
  EXPECT_GE(checked, 7) << "golden cases: T in {1,3,5} x lr in {0.1,0.01} + a long prompt";
}

INSTANTIATE_TEST_SUITE_P(
    TinyCheckpoints, SlotGolden,
    ::testing::Combine(::testing::Values("tiny-qwen2", "tiny-llama3", "tiny-qwen2-bf16", "tiny-llama3-f16"),
                       ::testing::Values(slot::Path::kFast, slot::Path::kReference)),
    [](const auto& info) {
      return test::param_name(std::get<0>(info.param)) +
             (std::get<1>(info.param) == slot::Path::kFast ? "_fast" : "_reference");
    });

TEST(SlotZeroSteps, BitIdenticalToPlainModel) {
  auto m = model::Model::load(test::data_path("tiny-qwen2"));
  const auto ids = test::load_golden("tiny-qwen2", "golden_forward.json")["prompt_ids"].get<std::vector<int32_t>>();
  gen::GenerateOptions plain;
  plain.n_predict = 24;
  plain.sampling.temperature = 0.8;  // sampling exposes any change in the logits, not just argmax
  plain.sampling.seed = 42;
  gen::GenerateOptions zero = plain;
  zero.slot.steps = 0;
  zero.slot.adam.lr = 0.5;  // irrelevant when steps = 0
  const auto a = gen::generate(*m, ids, plain);
  const auto b = gen::generate(*m, ids, zero);
  EXPECT_EQ(a.tokens, b.tokens);
  EXPECT_FALSE(b.slot.has_value());
}

}  // namespace
}  // namespace slotlm
