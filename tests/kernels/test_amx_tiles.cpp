// SPDX-License-Identifier: MIT
// Weights laid out once for the AMX tiles (MatView::tiles, kernels::pack_amx_tiles): the layout
// against its definition, and every product that reads it (prefill GEMM, fused SwiGLU, decode rows
// alone, batched and grouped with plain weights) giving the same bits as the plain layout. A tile
// layout made from OTHER weights proves each path really reads it. Skipped (with a message) on CPUs
// or kernels without AMX-BF16.
#include <cstring>

#include "core/aligned.h"
#include "core/error.h"
#include "kernel_test_util.h"
#include "kernels/isa/amx_gemm.h"
#include "kernels/matmul.h"

namespace slotlm::test {
namespace {

// Sends every product of 16 rows or more to the prefill GEMM (small test shapes included), and
// restores the defaults when the test ends.
struct Restore {
  Restore() { kernels::set_gemm_min_work(0); }
  ~Restore() {
    kernels::set_gemm_min_work(kernels::kGemmMinWork);
    kernels::set_bf16_gemm_terms(2);
    kernels::set_amx_tiles_enabled(true);
  }
};

AlignedVector<uint16_t> bf16_matrix(int64_t rows, int64_t cols, std::mt19937& rng) {
  AlignedVector<uint16_t> w(size_t(rows * cols));
  const std::vector<float> f = random_floats(w.size(), rng, 0.5f);
  for (size_t i = 0; i < w.size(); ++i) w[i] = f32_to_bf16(f[i]);
  return w;
}

// A random bf16 weight with its tile layout.
struct TiledWeight {
  AlignedVector<uint16_t> plain, tiles;
  int64_t rows, cols;
  MatView view() const { return MatView{plain.data(), DType::kBF16, rows, cols, tiles.data()}; }
};

TiledWeight tiled(int64_t rows, int64_t cols, std::mt19937& rng) {
  TiledWeight t{bf16_matrix(rows, cols, rng), AlignedVector<uint16_t>(size_t(rows * cols)), rows, cols};
  kernels::pack_amx_tiles(MatView{t.plain.data(), DType::kBF16, rows, cols}, t.tiles.data());
  return t;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(AmxTiles, LayoutFollowsItsDefinition) {
  SKIP_WITHOUT_AVX512();
  std::mt19937 rng(61);
  const int64_t m = 96, k = 128;
  const TiledWeight w = tiled(m, k, rng);
  for (int64_t jb = 0; jb < m / 32; ++jb)
    for (int64_t c = 0; c < k / 32; ++c)
      for (int64_t h = 0; h < 2; ++h)
        for (int64_t p = 0; p < 16; ++p)
          for (int64_t j = 0; j < 16; ++j)
            for (int64_t e = 0; e < 2; ++e)
              ASSERT_EQ(w.tiles[size_t(jb * 32 * k + ((c * 2 + h) * 16 + p) * 32 + 2 * j + e)],
                        w.plain[size_t((32 * jb + 16 * h + j) * k + 32 * c + 2 * p + e)])
                  << "jb=" << jb << " c=" << c << " h=" << h << " p=" << p << " j=" << j;
}

TEST(AmxTiles, RejectsWeightsThatDoNotFit) {
  std::mt19937 rng(62);
  const AlignedVector<uint16_t> w = bf16_matrix(48, 64, rng);
  AlignedVector<uint16_t> out(w.size());
  EXPECT_FALSE(kernels::amx_tiles_fit(MatView{w.data(), DType::kBF16, 48, 64}));
  EXPECT_THROW(kernels::pack_amx_tiles(MatView{w.data(), DType::kBF16, 48, 64}, out.data()), Error);
  EXPECT_FALSE(kernels::amx_tiles_fit(MatView{w.data(), DType::kF32, 32, 32}));
}

// y = x W^T + b through kernels::matmul, with the tiles read (`tiles` true) or ignored.
std::vector<float> product(const float* x, int64_t n, const MatView& w, const float* bias, bool tiles) {
  kernels::set_amx_tiles_enabled(tiles);
  std::vector<float> y(size_t(n * w.rows));
  kernels::matmul(x, n, w, bias, y.data());
  kernels::set_amx_tiles_enabled(true);
  return y;
}

// Prefill-sized (many rows: the AMX GEMM, k in one block and, at 2560, in several; at k = 2048 and
// 300 rows of 2-3 terms in two row groups) and decode-sized (1..40 rows: the AMX decode rows, in
// groups of 16 past 16) products, 1-3 terms, with and without bias: the same bits with the tile
// layout as without.
TEST(AmxTiles, ProductsGiveThePlainLayoutsBits) {
  SKIP_WITHOUT_AMX();
  Restore restore;
  std::mt19937 rng(63);
  struct Shape {
    int64_t m, k;
  };
  for (const Shape s : {Shape{64, 96}, Shape{160, 2560}, Shape{64, 2048}}) {
    const TiledWeight w = tiled(s.m, s.k, rng);
    const std::vector<float> bias = random_floats(size_t(s.m), rng);
    for (int terms : {1, 2, 3}) {
      kernels::set_bf16_gemm_terms(terms);
      for (int64_t n : {1, 3, 8, 16, 17, 40, 100, 300}) {
        const std::vector<float> x = random_floats(size_t(n * s.k), rng);
        for (const float* b : {static_cast<const float*>(nullptr), bias.data()}) {
          const std::vector<float> with = product(x.data(), n, w.view(), b, true);
          const std::vector<float> without = product(x.data(), n, w.view(), b, false);
          EXPECT_TRUE(same_bits(with, without))
              << "m=" << s.m << " k=" << s.k << " n=" << n << " terms=" << terms << " bias=" << (b != nullptr);
        }
      }
    }
  }
}

// Each path reads the tile layout: tiles made from another matrix W2 give W2's product.
TEST(AmxTiles, EveryPathReadsTheTiles) {
  SKIP_WITHOUT_AMX();
  Restore restore;
  std::mt19937 rng(64);
  const int64_t m = 64, k = 128;
  TiledWeight w{bf16_matrix(m, k, rng), AlignedVector<uint16_t>(size_t(m * k)), m, k};
  const AlignedVector<uint16_t> w2 = bf16_matrix(m, k, rng);
  kernels::pack_amx_tiles(MatView{w2.data(), DType::kBF16, m, k}, w.tiles.data());
  for (int64_t n : {1, 8, 20, 200}) {
    const std::vector<float> x = random_floats(size_t(n * k), rng);
    const std::vector<float> via_tiles = product(x.data(), n, w.view(), nullptr, true);
    const std::vector<float> of_w2 = product(x.data(), n, MatView{w2.data(), DType::kBF16, m, k}, nullptr, true);
    const std::vector<float> of_w = product(x.data(), n, w.view(), nullptr, false);
    EXPECT_TRUE(same_bits(via_tiles, of_w2)) << "n=" << n;
    EXPECT_FALSE(same_bits(via_tiles, of_w)) << "n=" << n;
  }
}

// A decode group mixing a tiled weight, a plain one the tiles cannot take (48 rows) and a tiled one
// again, with up to 40 rows (the gemv path takes them 16 at a time): each output equals its own
// matmul without tiles, bit for bit.
TEST(AmxTiles, GroupsMixTiledAndPlainWeights) {
  SKIP_WITHOUT_AMX();
  Restore restore;
  kernels::set_gemm_min_work(kernels::kGemmMinWork);  // these small products all take the gemv path
  std::mt19937 rng(65);
  const int64_t k = 64;
  const TiledWeight a = tiled(64, k, rng), c = tiled(32, k, rng);
  const AlignedVector<uint16_t> b = bf16_matrix(48, k, rng);
  const MatView views[3] = {a.view(), MatView{b.data(), DType::kBF16, 48, k}, c.view()};
  for (int terms : {1, 2, 3}) {
    kernels::set_bf16_gemm_terms(terms);
    for (int64_t n : {1, 5, 16, 40}) {
      const std::vector<float> x = random_floats(size_t(n * k), rng);
      std::vector<std::vector<float>> ys;
      std::vector<kernels::MatmulOut> outs;
      for (const MatView& v : views) ys.emplace_back(size_t(n * v.rows));
      for (size_t i = 0; i < 3; ++i) outs.push_back({views[i], nullptr, ys[i].data()});
      kernels::matmul_multi(x.data(), n, outs);
      for (size_t i = 0; i < 3; ++i)
        EXPECT_TRUE(same_bits(ys[i], product(x.data(), n, views[i], nullptr, false)))
            << "weight " << i << " n=" << n << " terms=" << terms;
    }
  }
}

// matvec_t (SLOT's W^T r) over the tile layout: the same bits as over the plain rows, on one thread
// and on two (2080 x 32 splits the rows at 1040, inside a 32-row block), with zeros in x.
TEST(AmxTiles, TransposedProductGivesThePlainLayoutsBits) {
  SKIP_WITHOUT_AVX512();
  Restore restore;
  std::mt19937 rng(67);
  for (int64_t m : {32, 96, 2080, 4096}) {
    for (int64_t k : {32, 128}) {
      const TiledWeight w = tiled(m, k, rng);
      std::vector<float> x = random_floats(size_t(m), rng);
      for (size_t i = 0; i < x.size(); i += 5) x[i] = 0.f;
      std::vector<float> with(static_cast<size_t>(k)), without(static_cast<size_t>(k));
      kernels::matvec_t(x.data(), w.view(), with.data());
      kernels::set_amx_tiles_enabled(false);
      kernels::matvec_t(x.data(), w.view(), without.data());
      kernels::set_amx_tiles_enabled(true);
      EXPECT_TRUE(same_bits(with, without)) << "m=" << m << " k=" << k;
      // and the tiles are what it reads
      TiledWeight other = tiled(m, k, rng);
      std::memcpy(other.tiles.data(), w.tiles.data(), w.tiles.size() * sizeof(uint16_t));
      kernels::matvec_t(x.data(), other.view(), with.data());
      EXPECT_TRUE(same_bits(with, without)) << "m=" << m << " k=" << k;
    }
  }
}

// The fused SwiGLU prefill (gate, up, silu * mul, down) with all three weights tiled; at d = 2048
// and 300 rows of 2 terms the gate / up rows run in two groups.
TEST(AmxTiles, SwigluMlpGivesThePlainLayoutsBits) {
  SKIP_WITHOUT_AMX();
  Restore restore;
  std::mt19937 rng(66);
  for (int64_t d : {64, 96, 2048}) {
    for (int64_t ff : {128, 2560}) {
      if (d == 2048 && ff == 2560) continue;  // slow, and nothing new
      const TiledWeight g = tiled(ff, d, rng), u = tiled(ff, d, rng), dn = tiled(d, ff, rng);
      for (int terms : {1, 2}) {
        kernels::set_bf16_gemm_terms(terms);
        const int64_t n = d == 2048 ? 300 : 70;
        const std::vector<float> x = random_floats(size_t(n * d), rng);
        auto run = [&](bool tiles) {
          kernels::set_amx_tiles_enabled(tiles);
          std::vector<float> gate(size_t(n * ff)), up(size_t(n * ff)), y(size_t(n * d));
          kernels::swiglu_mlp(x.data(), n, g.view(), nullptr, u.view(), nullptr, dn.view(), nullptr, gate.data(),
                              up.data(), y.data());
          kernels::set_amx_tiles_enabled(true);
          return y;
        };
        EXPECT_TRUE(same_bits(run(true), run(false))) << "d=" << d << " ff=" << ff << " terms=" << terms;
      }
    }
  }
}

}  // namespace
}  // namespace slotlm::test
