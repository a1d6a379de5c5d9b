// SPDX-License-Identifier: MIT
// AMX-BF16 products for decode (see amx_gemv.h). Compiled with -mamx-tile -mamx-bf16 -mavx512f;
// called only after amx_available().
//
// The weights are the tiles' FIRST operand here, read in place: a tile row is 32 bf16 of one weight
// row, already the layout TDPBF16PS wants, so nothing is re-laid out (the prefill GEMM puts the
// activations first and re-lays out the weights). The few activation rows, as bf16 terms, are the
// second operand, packed once per call. A 16-row x 32-k weight tile (1 KB) then costs one tile
// load and one product per 16 columns of terms, whatever the number of rows; the FMA gemv instead
// spends ~10 vector operations per 16 weights and 8 rows, so 8 sequences were arithmetic-bound.
//
// AMX behaves as if it issued its loads and products in order, so a weight tile that misses the
// cache stalls every product behind it: each row block prefetches its own rows kPrefetchChunks
// chunks ahead (one prefetch per cache line), and only 16 rows stream at a time. Measured with two
// threads (272 MB of weights from DRAM, one product per tile; bench/RESULTS.md, session 6): 16 rows
// 10.4-12.7 GB/s per thread, as a plain AVX-512 load stream; 64 rows at a time 8-9 GB/s.
#include "kernels/isa/amx_gemv.h"

#include <immintrin.h>

#include <algorithm>

#include "kernels/isa/amx_gemm.h"
#include "kernels/isa/bf16_avx512.h"
#include "kernels/isa/transpose_avx512.h"

namespace slotlm::kernels::detail {

void amx_gemv_pack(const float* x, int64_t n, int terms, int64_t k, uint16_t* out) {
  const int64_t nb = amx_gemv_col_tiles(n, terms), cols = n * terms;
  alignas(64) uint32_t stage[3 * 16][16];  // column q, pair p
  for (int64_t q = cols; q < nb * 16; ++q) std::fill_n(stage[q], 16, 0u);
  for (int64_t c = 0; c < k / 32; ++c) {
    for (int64_t j = 0; j < n; ++j) {
      __m512 lo = _mm512_loadu_ps(x + j * k + 32 * c), hi = _mm512_loadu_ps(x + j * k + 32 * c + 16);
      for (int t = 0; t < terms; ++t) {
        const __m256i blo = next_bf16_term(lo), bhi = next_bf16_term(hi);
        _mm512_store_si512(stage[j * terms + t], _mm512_inserti64x4(_mm512_castsi256_si512(blo), bhi, 1));
      }
    }
    for (int64_t b = 0; b < nb; ++b) {
      __m512i r[16];
      for (int i = 0; i < 16; ++i) r[i] = _mm512_load_si512(stage[16 * b + i]);
      transpose16(r);  // r[p] lane i = pair p of column 16 b + i
      uint16_t* dst = out + (c * nb + b) * 512;
      for (int p = 0; p < 16; ++p) _mm512_store_si512(dst + p * 32, r[p]);
    }
  }
}

namespace {

// How far ahead along its rows a block prefetches: 4 chunks = 64 cache lines (4 KB) in flight per
// thread. Two threads from DRAM, 16 rows, one product per tile, per thread: 10.6-12.1 GB/s with 4,
// 10.4-11.1 with 8, 6.5-10.9 without.
constexpr int64_t kPrefetchChunks = 4;

// The asm statements behind the tile intrinsics declare no memory effects: this barrier keeps the
// packed x written before the first tile load and the stored accumulators before they are read.
inline void barrier() { asm volatile("" ::: "memory"); }

// The 16 rows of `a` (stride ldw) at chunk `pc`, or past the block's end the next block's rows.
inline void prefetch_chunk(const uint16_t* a, int64_t ldw, int64_t pc, int64_t chunks) {
  const uint16_t* p = pc < chunks ? a + pc * 32 : a + 16 * ldw + (pc - chunks) * 32;
  for (int i = 0; i < 16; ++i) _mm_prefetch(reinterpret_cast<const char*>(p + i * ldw), _MM_HINT_T0);
}

// 16 weight rows from `a` times NB column tiles of the packed x over `chunks` chunks of 32 k, into
// c `[NB][16][16]`. The tile intrinsics take tile numbers as literals (GCC pastes them into the
// asm), hence one body per NB. Tiles: accumulators 0 .. NB - 1, the weight tile 3, x tiles 4 .. 6.
template <int NB>
void rows16(const uint16_t* xp, const uint16_t* a, int64_t ldw, int64_t chunks, float* c) {
  const int64_t as = ldw * int64_t(sizeof(uint16_t));
  _tile_zero(0);
  if constexpr (NB >= 2) _tile_zero(1);
  if constexpr (NB >= 3) _tile_zero(2);
  for (int64_t ch = 0; ch < chunks; ++ch) {
    prefetch_chunk(a, ldw, ch + kPrefetchChunks, chunks);
    const uint16_t* b = xp + ch * NB * 512;
    _tile_loadd(4, b, 64);
    _tile_loadd(3, a + ch * 32, as);
    _tile_dpbf16ps(0, 3, 4);
    if constexpr (NB >= 2) {
      _tile_loadd(5, b + 512, 64);
      _tile_dpbf16ps(1, 3, 5);
    }
    if constexpr (NB >= 3) {
      _tile_loadd(6, b + 1024, 64);
      _tile_dpbf16ps(2, 3, 6);
    }
  }
  _tile_stored(0, c, 64);
  if constexpr (NB >= 2) _tile_stored(1, c + 256, 64);
  if constexpr (NB >= 3) _tile_stored(2, c + 512, 64);
}

}  // namespace

void amx_gemv_bf16(const uint16_t* xp, int64_t n, int terms, const uint16_t* w, int64_t ldw, int64_t rows,
                   int64_t k, const float* bias, float* y, int64_t ldy) {
  static_assert(kAmxGemvRows * 3 <= 3 * 16, "16 rows of 3 terms fill at most 3 column tiles");
  const int64_t nb = amx_gemv_col_tiles(n, terms), chunks = k / 32;
  barrier();
  amx_load_tile_config();
  alignas(64) float c[3 * 16 * 16];  // [column tile][weight row][column]
  for (int64_t r = 0; r < rows; r += 16) {
    const uint16_t* a = w + r * ldw;
    if (nb == 1)
      rows16<1>(xp, a, ldw, chunks, c);
    else if (nb == 2)
      rows16<2>(xp, a, ldw, chunks, c);
    else
      rows16<3>(xp, a, ldw, chunks, c);
    barrier();
    for (int64_t i = 0; i < 16; ++i) {
      const float b = bias ? bias[r + i] : 0.f;
      for (int64_t j = 0; j < n; ++j) {
        float s = 0.f;
        for (int64_t q = j * terms; q < (j + 1) * terms; ++q) s += c[(q / 16) * 256 + i * 16 + q % 16];
        y[j * ldy + r + i] = s + b;
      }
    }
  }
  _tile_release();
}

}  // namespace slotlm::kernels::detail
