// SPDX-License-Identifier: MIT
// Model::forward_segments: sequences with different numbers of tokens in one forward (a prompt's
// prefill chunk next to other sequences' decode tokens) get the rows forward() gives each alone.
#include <gtest/gtest.h>

#include <numeric>

#include "core/error.h"
#include "golden.h"
#include "kernels/matmul.h"
#include "model/model.h"

namespace slotlm {
namespace {

// The same maths in another order, so f32 rounding only (~1e-7 on the tiny models) when every
// product takes the path of forward(); when the mixed batch is large enough for oneDNN and the
// sequences alone take the gemv, bf16 weights add the 2-term split's ~2^-17 per product: both well
// inside the bound the paths keep against the float64 reference (test_forward.cpp).
constexpr double kSegmentRelTol = 1e-4;

std::vector<int32_t> ids_from(int32_t first, size_t n, int64_t vocab) {
  std::vector<int32_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = int32_t((first + int64_t(i) * 37) % vocab);
  return ids;
}

class ForwardSegments : public ::testing::TestWithParam<const char*> {};

// a decodes one token after a 5-token prompt, b prefills its next 17 tokens after 3, c its first 4:
// 22 rows, forced onto oneDNN for the mixed batch (min work 0), while a's token alone takes the gemv.
TEST_P(ForwardSegments, EachSegmentGetsTheRowsOfItsOwnForward) {
  auto m = model::Model::load(test::data_path(GetParam()));
  const int64_t d = m->d_model(), V = m->n_vocab();
  const auto a_prompt = ids_from(3, 5, V), b_prompt = ids_from(11, 3, V);
  const auto a_next = ids_from(29, 1, V), b_chunk = ids_from(41, 17, V), c_prompt = ids_from(53, 4, V);
  model::Workspace ws;
  std::vector<float> scratch(size_t(8 * d));
  auto ready = [&](const std::vector<int32_t>& prompt) {
    auto kv = m->new_cache(32);
    m->forward(prompt, kv, ws, scratch.data());
    return kv;
  };
  model::KvCache a = ready(a_prompt), b = ready(b_prompt), c = m->new_cache(32);
  model::KvCache a_alone = ready(a_prompt), b_alone = ready(b_prompt), c_alone = m->new_cache(32);

  std::vector<int32_t> tokens = a_next;
  tokens.insert(tokens.end(), b_chunk.begin(), b_chunk.end());
  tokens.insert(tokens.end(), c_prompt.begin(), c_prompt.end());
  const model::Model::Segment segs[] = {{&a, 1}, {&b, 17}, {&c, 4}};
  std::vector<float> mixed(tokens.size() * size_t(d));
  kernels::set_gemm_min_work(0);
  m->forward_segments(tokens, segs, ws, mixed.data());
  kernels::set_gemm_min_work(kernels::kGemmMinWork);

  std::vector<float> alone(tokens.size() * size_t(d));
  m->forward(a_next, a_alone, ws, alone.data());
  m->forward(b_chunk, b_alone, ws, alone.data() + 1 * d);
  m->forward(c_prompt, c_alone, ws, alone.data() + 18 * d);
  const std::vector<double> ref(alone.begin(), alone.end());
  EXPECT_LE(test::max_row_rel_error(mixed.data(), ref, tokens.size(), size_t(d)), kSegmentRelTol) << GetParam();
  EXPECT_EQ(a.n_past(), 6);
  EXPECT_EQ(b.n_past(), 20);
  EXPECT_EQ(c.n_past(), 4);

  // The caches hold what their own forwards wrote: the next token of each sees the same context.
  const auto after = ids_from(67, 1, V);
  std::vector<float> h1(static_cast<size_t>(d)), h2(static_cast<size_t>(d));
  m->forward(after, b, ws, h1.data());
  m->forward(after, b_alone, ws, h2.data());
  const std::vector<double> ref2(h2.begin(), h2.end());
  EXPECT_LE(test::max_row_rel_error(h1.data(), ref2, 1, size_t(d)), kSegmentRelTol);
}

INSTANTIATE_TEST_SUITE_P(Models, ForwardSegments, ::testing::Values("tiny-qwen2", "tiny-llama3", "tiny-qwen2-bf16"),
                         [](const auto& info) { return test::param_name(info.param); });

TEST(ForwardSegments, RefusesSharedCachesEmptySegmentsAndUncoveredTokens) {
  auto m = model::Model::load(test::data_path("tiny-qwen2"));
  model::Workspace ws;
  auto a = m->new_cache(8), b = m->new_cache(8);
  std::vector<float> h(size_t(4 * m->d_model()));
  const std::vector<int32_t> three = {1, 2, 3};
  const model::Model::Segment shared[] = {{&a, 1}, {&a, 2}};
  EXPECT_THROW(m->forward_segments(three, shared, ws, h.data()), Error);
  const model::Model::Segment empty[] = {{&a, 3}, {&b, 0}};
  EXPECT_THROW(m->forward_segments(three, empty, ws, h.data()), Error);
  const model::Model::Segment short_of[] = {{&a, 1}, {&b, 1}};
  EXPECT_THROW(m->forward_segments(three, short_of, ws, h.data()), Error);
  EXPECT_EQ(a.n_past(), 0) << "a refused call writes nothing";
  EXPECT_EQ(b.n_past(), 0);
}

}  // namespace
}  // namespace slotlm
