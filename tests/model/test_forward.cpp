// SPDX-License-Identifier: MIT
// Forward pass against the float64 PyTorch reference (tools/reference_model.py): final hidden
// states, logits and greedy ids of the tiny checkpoints in tests/data.
#include <cstring>
#include <gtest/gtest.h>

#include "generate/generate.h"
#include "golden.h"
#include "kernels/matmul.h"
#include "model/model.h"
#include "model/weights.h"

namespace slotlm {
namespace {

// f32 weights: the engine computes in f32 against a float64 reference; 20 positions through two
// layers accumulate ~1e-6 relative rounding, so 1e-4 (the bound) has a wide margin.
constexpr double kF32RelTol = 1e-4;
// bf16/f16 weights are upcast exactly in both engine and reference, so the same f32-rounding bound
// holds (the bf16 prefill GEMM splits activations into two bf16 terms, ~2^-17, see kernels/matmul.h).
constexpr double kBf16RelTol = 1e-4;
constexpr double kF16RelTol = 1e-4;

struct Case {
  const char* folder;
  double tol;
};

class ForwardGolden : public ::testing::TestWithParam<Case> {};

TEST_P(ForwardGolden, HiddenLogitsAndGreedyMatchReference) {
  const Case c = GetParam();
  auto m = model::Model::load(test::data_path(c.folder));
  const auto g = test::load_golden(c.folder, "golden_forward.json");
  const auto ids = g["prompt_ids"].get<std::vector<int32_t>>();
  const size_t n = ids.size(), d = size_t(m->d_model()), V = size_t(m->n_vocab());
  auto cache = m->new_cache(int64_t(n));
  model::Workspace ws;
  std::vector<float> hidden(n * d), logits(n * V);
  m->forward(ids, cache, ws, hidden.data());
  m->lm_head(hidden.data(), int64_t(n), logits.data());
  const double err_h = test::max_row_rel_error(hidden.data(), test::flatten_d(g["hidden"]), n, d);
  const double err_z = test::max_row_rel_error(logits.data(), test::flatten_d(g["logits"]), n, V);
  EXPECT_LE(err_h, c.tol) << c.folder << ": hidden states, worst row relative error";
  EXPECT_LE(err_z, c.tol) << c.folder << ": logits, worst row relative error";
  RecordProperty("hidden_rel_err", std::to_string(err_h));

  gen::GenerateOptions opt;
  opt.n_predict = int64_t(g["greedy_ids"].size());
  const auto r = gen::generate(*m, g["greedy_prompt_ids"].get<std::vector<int32_t>>(), opt);
  EXPECT_EQ(r.tokens, g["greedy_ids"].get<std::vector<int32_t>>()) << c.folder;
}

TEST_P(ForwardGolden, TokenByTokenEqualsBatchedPrefill) {
  const Case c = GetParam();
  auto m = model::Model::load(test::data_path(c.folder));
  const auto ids = test::load_golden(c.folder, "golden_forward.json")["prompt_ids"].get<std::vector<int32_t>>();
  const size_t n = ids.size(), d = size_t(m->d_model());
  model::Workspace ws;
  auto batch_cache = m->new_cache(int64_t(n)), step_cache = m->new_cache(int64_t(n));
  std::vector<float> batched(n * d), stepped(n * d);
  m->forward(ids, batch_cache, ws, batched.data());
  for (size_t i = 0; i < n; ++i)
    m->forward(std::span<const int32_t>(&ids[i], 1), step_cache, ws, stepped.data() + i * d);
  std::vector<double> ref(batched.begin(), batched.end());
  // Same maths in a different order (attention over the cache vs within the batch): f32 rounding only.
  EXPECT_LE(test::max_row_rel_error(stepped.data(), ref, n, d), 1e-5);
}

// Hidden states of `ids` prefilled (forced onto the GEMM, whatever the shapes) and then of `steps`
// decode steps fed ids[0 .. steps) (the gemv path): `[ids.size() + steps, d_model]`.
std::vector<float> prefill_and_decode(const model::Model& m, const std::vector<int32_t>& ids, size_t steps) {
  const size_t n = ids.size(), d = size_t(m.d_model());
  kernels::set_gemm_min_work(0);
  auto cache = m.new_cache(int64_t(n + steps));
  model::Workspace ws;
  std::vector<float> hidden((n + steps) * d);
  m.forward(ids, cache, ws, hidden.data());
  for (size_t i = 0; i < steps; ++i)
    m.forward(std::span<const int32_t>(&ids[i], 1), cache, ws, hidden.data() + (n + i) * d);
  kernels::set_gemm_min_work(kernels::kGemmMinWork);
  return hidden;
}

// The bf16 checkpoint's 20-token prefill on each matrix-product path (forced on its small shapes):
// slotlm's gemv, oneDNN, and the AMX tiles where the CPU has them. Each stays within the bf16 bound.
TEST(ForwardPaths, Bf16PrefillMatchesReferenceOnEveryMatmulPath) {
  auto m = model::Model::load(test::data_path("tiny-qwen2-bf16"));
  const auto g = test::load_golden("tiny-qwen2-bf16", "golden_forward.json");
  const auto ids = g["prompt_ids"].get<std::vector<int32_t>>();
  const size_t n = ids.size(), d = size_t(m->d_model()), V = size_t(m->n_vocab());
  struct Path {
    const char* name;
    int64_t min_work;
    bool amx;
  };
  std::vector<Path> paths{{"gemv", kernels::kGemmMinWork, false}, {"oneDNN", 0, false}};
  const bool amx = kernels::amx_enabled();  // restored at the end (SLOTLM_AMX=0 keeps it off)
  if (amx) paths.push_back({"AMX", 0, true});
  for (const Path& p : paths) {
    kernels::set_gemm_min_work(p.min_work);
    kernels::set_amx_enabled(p.amx);
    auto cache = m->new_cache(int64_t(n));
    model::Workspace ws;
    std::vector<float> hidden(n * d), logits(n * V);
    m->forward(ids, cache, ws, hidden.data());
    m->lm_head(hidden.data(), int64_t(n), logits.data());
    EXPECT_LE(test::max_row_rel_error(hidden.data(), test::flatten_d(g["hidden"]), n, d), kBf16RelTol) << p.name;
    EXPECT_LE(test::max_row_rel_error(logits.data(), test::flatten_d(g["logits"]), n, V), kBf16RelTol) << p.name;
  }
  kernels::set_gemm_min_work(kernels::kGemmMinWork);
  kernels::set_amx_enabled(amx);
}

// On AVX512-BF16 without AMX the loader lays the bf16 layer matrices that fit out in oneDNN's blocked
// layout and copies the rest and the LM head into the same huge pages (model::lay_out_weights). The
// 20-token prefill (forced onto oneDNN) and 3 decode steps (the dot products at 2 terms) then stay
// within the bf16 bound of the reference and of the plain layout's path (kernels::set_blocked_enabled).
TEST(ForwardPaths, Bf16BlockedLayoutMatchesReferenceAndThePlainLayout) {
  if (!kernels::blocked_wanted()) GTEST_SKIP() << "no blocked layout here (AMX, no AVX512-BF16, or SLOTLM_BLOCKED_LAYOUT=0)";
  auto m = model::Model::load(test::data_path("tiny-qwen2-bf16"));
  const model::Weights& w = m->weights();
  ASSERT_GT(w.layout.size(), 0u);
  EXPECT_STREQ(w.layout_name, "oneDNN's blocks");
  auto inside = [&](const void* p) { return p >= w.layout.data() && p < w.layout.data() + w.layout.size(); };
  for (const auto& l : w.layers) {
    for (const MatView* v : {&l.wq, &l.wo, &l.w_down}) EXPECT_TRUE(v->blocked && inside(v->blocked));  // 64 rows
    for (const MatView* v : {&l.wk, &l.wv, &l.w_gate, &l.w_up}) {  // 32 or 160 rows: copied as they are
      EXPECT_EQ(v->blocked, nullptr);
      EXPECT_TRUE(inside(v->data));
    }
  }
  EXPECT_TRUE(w.lm_head.blocked && inside(w.lm_head.blocked));  // 256 rows
  EXPECT_EQ(w.embed.blocked, nullptr);  // untied: its rows are looked up in the file
  EXPECT_FALSE(inside(w.embed.data));
  const auto g = test::load_golden("tiny-qwen2-bf16", "golden_forward.json");
  const auto ids = g["prompt_ids"].get<std::vector<int32_t>>();
  const size_t n = ids.size(), d = size_t(m->d_model());
  auto run = [&](bool blocked) {
    kernels::set_blocked_enabled(blocked);
    std::vector<float> hidden = prefill_and_decode(*m, ids, 3);
    kernels::set_blocked_enabled(true);
    return hidden;
  };
  const std::vector<float> with = run(true), without = run(false);
  EXPECT_LE(test::max_row_rel_error(with.data(), test::flatten_d(g["hidden"]), n, d), kBf16RelTol);
  const std::vector<double> plain(without.begin(), without.end());
  EXPECT_LE(test::max_row_rel_error(with.data(), plain, n + 3, d), kBf16RelTol);
  RecordProperty("blocked_vs_plain_rel_err", std::to_string(test::max_row_rel_error(with.data(), plain, n + 3, d)));
}

// A tied LM head laid out in blocks or for the AMX tiles takes its embedding along: lookups read
// the blocked layout (kernels::matrix_row) or the plain rows the tiles came from, and a head that
// does not fit is copied with its embedding pointing at the copy. Weights built by hand (no file:
// the store reads and gives back nothing).
TEST(ForwardPaths, TiedEmbeddingFollowsItsLaidOutHead) {
  const bool tiles = kernels::amx_tiles_wanted();
  if (!tiles && !kernels::blocked_wanted())
    GTEST_SKIP() << "no layout here (neither AMX nor AVX512-BF16, or SLOTLM_BLOCKED_LAYOUT=0)";
  // 200: not whole blocks of 64 (or 32) rows; 40000: 5 MB, read in two pieces by the threads.
  for (const int64_t vocab : {int64_t(256), int64_t(200), int64_t(40000)}) {
    const int64_t d = 64;
    std::vector<uint16_t> head(size_t(vocab * d));
    for (size_t i = 0; i < head.size(); ++i) head[i] = f32_to_bf16(float(i % 97) * 0.25f - 3.f);
    model::Weights w;
    w.store = std::make_unique<model::TensorStore>();
    w.lm_head = MatView{head.data(), DType::kBF16, vocab, d};
    w.embed = w.lm_head;
    model::lay_out_weights(w);
    ASSERT_GT(w.layout.size(), 0u) << vocab;
    EXPECT_EQ(w.embed.data, w.lm_head.data) << vocab;
    if (tiles) {
      EXPECT_EQ(w.lm_head.tiles != nullptr, vocab % 32 == 0) << vocab;
      EXPECT_EQ(w.embed.tiles, nullptr) << vocab;  // rows are looked up in the plain layout
      EXPECT_EQ(w.lm_head.data == head.data(), vocab % 32 == 0) << vocab << ": a head that does not fit is copied";
    } else {
      EXPECT_EQ(w.embed.blocked, w.lm_head.blocked) << vocab;
      EXPECT_EQ(w.lm_head.blocked != nullptr, vocab % 64 == 0) << vocab;
    }
    std::vector<float> row(static_cast<size_t>(d)), want(static_cast<size_t>(d));
    for (int64_t r : {int64_t(0), int64_t(77), vocab / 2 + 3, vocab - 1}) {
      kernels::matrix_row(w.embed, r, row.data());
      kernels::convert_to_f32(head.data() + r * d, DType::kBF16, d, want.data());
      EXPECT_EQ(std::memcmp(row.data(), want.data(), size_t(d) * sizeof(float)), 0) << vocab << " row " << r;
    }
  }
}

// Matrices no layout fits (an f32 checkpoint) are copied into huge pages as they are wherever a
// layout is made, so decode never streams 4 KiB pages of the file's mapping; the model's numbers
// stay the golden ones.
TEST(ForwardPaths, WeightsNoLayoutFitsAreCopiedIntoHugePages) {
  if (!kernels::amx_tiles_wanted() && !kernels::blocked_wanted())
    GTEST_SKIP() << "no layout here (neither AMX nor AVX512-BF16, or SLOTLM_BLOCKED_LAYOUT=0)";
  auto m = model::Model::load(test::data_path("tiny-qwen2"));
  const model::Weights& w = m->weights();
  EXPECT_STREQ(w.layout_name, "stored rows in huge pages");
  const auto* lo = w.layout.data();
  auto inside = [&](const MatView& v) {
    const auto* p = static_cast<const uint8_t*>(v.data);
    return p >= lo && p + size_t(v.rows * v.cols) * dtype_size(v.dtype) <= lo + w.layout.size();
  };
  for (const auto& l : w.layers)
    for (const MatView* v : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) {
      EXPECT_TRUE(inside(*v));
      EXPECT_EQ(v->tiles, nullptr);
      EXPECT_EQ(v->blocked, nullptr);
    }
  EXPECT_TRUE(inside(w.lm_head));
  const auto g = test::load_golden("tiny-qwen2", "golden_forward.json");
  const auto ids = g["prompt_ids"].get<std::vector<int32_t>>();
  const size_t n = ids.size(), d = size_t(m->d_model());
  auto cache = m->new_cache(int64_t(n));
  model::Workspace ws;
  std::vector<float> hidden(n * d);
  m->forward(ids, cache, ws, hidden.data());
  EXPECT_LE(test::max_row_rel_error(hidden.data(), test::flatten_d(g["hidden"]), n, d), kF32RelTol);
}

// With AMX the loader lays the bf16 layer matrices and LM head out for the tiles (model::lay_out_weights); prefill
// (forced onto the GEMM) and decode steps then give the same bits as from the plain layout.
TEST(ForwardPaths, Bf16TileLayoutGivesThePlainLayoutsBits) {
  if (!kernels::amx_tiles_wanted()) GTEST_SKIP() << "no AMX-BF16 here (or SLOTLM_AMX=0 / SLOTLM_GEMM=own)";
  auto m = model::Model::load(test::data_path("tiny-qwen2-bf16"));
  ASSERT_GT(m->weights().layout.size(), 0u);
  for (const auto& l : m->weights().layers)
    for (const MatView* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) ASSERT_NE(w->tiles, nullptr);
  EXPECT_NE(m->weights().lm_head.tiles, nullptr);
  EXPECT_EQ(m->weights().embed.tiles, nullptr);  // rows are looked up in the file's layout
  const auto ids = test::load_golden("tiny-qwen2-bf16", "golden_forward.json")["prompt_ids"].get<std::vector<int32_t>>();
  auto run = [&](bool tiles) {
    kernels::set_amx_tiles_enabled(tiles);
    std::vector<float> hidden = prefill_and_decode(*m, ids, 3);
    kernels::set_amx_tiles_enabled(true);
    return hidden;
  };
  const std::vector<float> with = run(true), without = run(false);
  EXPECT_EQ(std::memcmp(with.data(), without.data(), with.size() * sizeof(float)), 0);
  // The LM head reads its tiles too: one row (decode), all rows (SLOT's z0, forced onto the GEMM).
  const int64_t V = m->n_vocab(), rows = int64_t(with.size()) / m->d_model();
  auto head = [&](bool tiles, int64_t n) {
    kernels::set_amx_tiles_enabled(tiles);
    kernels::set_gemm_min_work(0);
    std::vector<float> z(size_t(n * V));
    m->lm_head(with.data(), n, z.data());
    kernels::set_gemm_min_work(kernels::kGemmMinWork);
    kernels::set_amx_tiles_enabled(true);
    return z;
  };
  for (int64_t n : {int64_t(1), rows}) {
    const std::vector<float> a = head(true, n), b = head(false, n);
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << n << " rows";
  }
}

INSTANTIATE_TEST_SUITE_P(TinyCheckpoints, ForwardGolden,
                         ::testing::Values(Case{"tiny-qwen2", kF32RelTol}, Case{"tiny-llama3", kF32RelTol},
                                           Case{"tiny-qwen2-bf16", kBf16RelTol},
                                           Case{"tiny-qwen2-sharded", kF32RelTol},
                                           Case{"tiny-llama3-f16", kF16RelTol}),
                         [](const auto& info) { return test::param_name(info.param.folder); });

TEST(SharedModels, TinyStoriesGreedyEqualsReference) {
  SLOTLM_REQUIRE_SHARED(dir, "models/tinystories-656k");
  auto m = model::Model::load(dir);
  const auto ref = read_json_file(dir + "/reference_greedy.json");
  for (const auto& c : ref["cases"]) {
    gen::GenerateOptions opt;
    opt.n_predict = c["max_new_tokens"].get<int64_t>();
    const auto want = c["generated_ids"].get<std::vector<int32_t>>();
    const auto r = gen::generate(*m, c["prompt_token_ids"].get<std::vector<int32_t>>(), opt);
    // The reference stops at EOS (2) like we do; compare the ids it lists.
    std::vector<int32_t> got = r.tokens;
    ASSERT_GE(got.size(), std::min<size_t>(want.size(), got.size()));
    EXPECT_EQ(got, std::vector<int32_t>(want.begin(), want.begin() + long(std::min(want.size(), got.size()))))
        << c["name"];
    EXPECT_EQ(got.size(), want.size()) << c["name"] << ": generated length";
  }
}

}  // namespace
}  // namespace slotlm
