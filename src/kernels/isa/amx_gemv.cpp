// SPDX-License-Identifier: MIT
// AMX-BF16 products for decode (see amx_gemv.h). Compiled with -mamx-tile -mamx-bf16 -mavx512f;
// called only after amx_available().
//
// Plain weights (amx_gemv_bf16) are the tiles' FIRST operand here, read in place: a tile row is 32
// bf16 of one weight row, already the layout TDPBF16PS wants, so nothing is re-laid out. Weights laid
// out for the tiles at load (amx_gemv_tiles_bf16) are the SECOND operand, as in the prefill GEMM,
// and x the first; each 1 KB weight tile is then read in sequence. The few activation rows, as bf16 terms, are the
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
#include "kernels/isa/amx_intrinsics.h"
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

void amx_gemv_pack_rows(const float* x, int64_t n, int terms, int64_t k, uint16_t* out) {
  const int64_t nb = amx_gemv_col_tiles(n, terms), cols = n * terms;
  for (int64_t c = 0; c < k / 32; ++c) {
    uint16_t* chunk = out + c * nb * 512;
    for (int64_t j = 0; j < n; ++j) {
      __m512 lo = _mm512_loadu_ps(x + j * k + 32 * c), hi = _mm512_loadu_ps(x + j * k + 32 * c + 16);
      for (int t = 0; t < terms; ++t) {
        const __m256i blo = next_bf16_term(lo), bhi = next_bf16_term(hi);
        _mm512_store_si512(chunk + (j * terms + t) * 32, _mm512_inserti64x4(_mm512_castsi256_si512(blo), bhi, 1));
      }
    }
    for (int64_t q = cols; q < nb * 16; ++q) _mm512_store_si512(chunk + q * 32, _mm512_setzero_si512());
  }
}

namespace {

// How far ahead along its rows a block prefetches: 4 chunks = 64 cache lines (4 KB) in flight per
// thread. Two threads from DRAM, 16 rows, one product per tile, per thread: 10.6-12.1 GB/s with 4,
// 10.4-11.1 with 8, 6.5-10.9 without.
constexpr int64_t kPrefetchChunks = 4;

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

// How far ahead a 32-row block of tile-layout weights prefetches along its sequence of tiles, into
// L2 (one prefetch per cache line). 0.5B decode step, in one process, interleaved (ms, 1 / 8
// sequences): 4 KB into L2 39.7 / 50.1 and 39.4 / 46.4; 8 KB 40.4 / 51.4, 39.9 / 46.9; 16 KB
// 40.9 / 52.5, 40.1 / 48.9; none 44.1 / 51.5, 40.4 / 49.8; 2-8 KB into L1 41.1-41.7 / 46.6-47.3.
constexpr int64_t kTilePrefetchBytes = 4096;

// 32 weight rows in the tile layout (wt: their block, chunk c at wt + 1024 c, rows 16 h .. 16 h + 15
// in the tile at + 512 h) times NB row tiles of xa over `chunks` chunks, into
// c `[NB][2][16][16]` (row tile b, half h, x row, weight row). Tiles: NB = 1: accumulators 0, 1, x 4,
// weights 6, 7; NB = 2: accumulators 0-3 (2 b + h), x 4, 5, weights 6, 7; NB = 3: accumulators 0-5,
// x 6 (reloaded per product), weights 7 (one half at a time).
template <int NB>
void rows32_tiles(const uint16_t* xa, const uint16_t* wt, int64_t chunks, float* c) {
  _tile_zero(0);
  _tile_zero(1);
  if constexpr (NB >= 2) {
    _tile_zero(2);
    _tile_zero(3);
  }
  if constexpr (NB >= 3) {
    _tile_zero(4);
    _tile_zero(5);
  }
  for (int64_t ch = 0; ch < chunks; ++ch) {
    const char* pf = reinterpret_cast<const char*>(wt + ch * 1024) + kTilePrefetchBytes;
    for (int i = 0; i < 32; ++i) _mm_prefetch(pf + 64 * i, _MM_HINT_T1);
    const uint16_t* w = wt + ch * 1024;
    const uint16_t* a = xa + ch * NB * 512;
    if constexpr (NB == 1) {
      _tile_loadd(4, a, 64);
      _tile_loadd(6, w, 64);
      _tile_dpbf16ps(0, 4, 6);
      _tile_loadd(7, w + 512, 64);
      _tile_dpbf16ps(1, 4, 7);
    } else if constexpr (NB == 2) {
      _tile_loadd(4, a, 64);
      _tile_loadd(6, w, 64);
      _tile_dpbf16ps(0, 4, 6);
      _tile_loadd(5, a + 512, 64);
      _tile_dpbf16ps(2, 5, 6);
      _tile_loadd(7, w + 512, 64);
      _tile_dpbf16ps(1, 4, 7);
      _tile_dpbf16ps(3, 5, 7);
    } else {
      _tile_loadd(7, w, 64);
      _tile_loadd(6, a, 64);
      _tile_dpbf16ps(0, 6, 7);
      _tile_loadd(6, a + 512, 64);
      _tile_dpbf16ps(2, 6, 7);
      _tile_loadd(6, a + 1024, 64);
      _tile_dpbf16ps(4, 6, 7);
      _tile_loadd(7, w + 512, 64);
      _tile_loadd(6, a, 64);
      _tile_dpbf16ps(1, 6, 7);
      _tile_loadd(6, a + 512, 64);
      _tile_dpbf16ps(3, 6, 7);
      _tile_loadd(6, a + 1024, 64);
      _tile_dpbf16ps(5, 6, 7);
    }
  }
  _tile_stored(0, c, 64);
  _tile_stored(1, c + 256, 64);
  if constexpr (NB >= 2) {
    _tile_stored(2, c + 512, 64);
    _tile_stored(3, c + 768, 64);
  }
  if constexpr (NB >= 3) {
    _tile_stored(4, c + 1024, 64);
    _tile_stored(5, c + 1280, 64);
  }
}

}  // namespace

void amx_gemv_tiles_bf16(const uint16_t* xa, int64_t n, int terms, const uint16_t* wt, int64_t rows, int64_t k,
                         const float* bias, float* y, int64_t ldy) {
  const int64_t nb = amx_gemv_col_tiles(n, terms), chunks = k / 32;
  tile_barrier();
  amx_load_tile_config();
  alignas(64) float c[3 * 2 * 16 * 16];  // [x row tile][half][x row][weight row]
  for (int64_t r = 0; r < rows; r += 32) {
    const uint16_t* blk = wt + r * k;
    if (nb == 1)
      rows32_tiles<1>(xa, blk, chunks, c);
    else if (nb == 2)
      rows32_tiles<2>(xa, blk, chunks, c);
    else
      rows32_tiles<3>(xa, blk, chunks, c);
    tile_barrier();
    for (int64_t i = 0; i < 32; ++i) {
      const float b = bias ? bias[r + i] : 0.f;
      const float* ci = c + (i / 16) * 256 + i % 16;
      for (int64_t j = 0; j < n; ++j) {
        float s = 0.f;
        for (int64_t q = j * terms; q < (j + 1) * terms; ++q) s += ci[(q / 16) * 512 + (q % 16) * 16];
        y[j * ldy + r + i] = s + b;
      }
    }
  }
  _tile_release();
}

void amx_gemv_bf16(const uint16_t* xp, int64_t n, int terms, const uint16_t* w, int64_t ldw, int64_t rows,
                   int64_t k, const float* bias, float* y, int64_t ldy) {
  static_assert(kAmxGemvRows * 3 <= 3 * 16, "16 rows of 3 terms fill at most 3 column tiles");
  const int64_t nb = amx_gemv_col_tiles(n, terms), chunks = k / 32;
  tile_barrier();
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
    tile_barrier();
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

void tiles_gemv_t_bf16(const float* x, const uint16_t* wt, int64_t r0, int64_t r1, int64_t k, float* y) {
  auto widen = [](__m256i v) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16)); };
  const int64_t fours = r0 + (r1 - r0) / 4 * 4;  // rows past this skip x == 0, as gemv_t's tail
  for (int64_t b0 = r0 / 32 * 32; b0 < r1; b0 += 32) {
    const uint16_t* blk = wt + b0 * k;
    for (int64_t c = 0; c < k / 32; ++c) {
      __m512 lo = _mm512_loadu_ps(y + 32 * c), hi = _mm512_loadu_ps(y + 32 * c + 16);
      for (int64_t h = 0; h < 2; ++h) {
        const int64_t h0 = b0 + 16 * h, i0 = std::max(r0 - h0, int64_t(0)), i1 = std::min(r1 - h0, int64_t(16));
        if (i1 <= i0) continue;
        __m512i t[16];
        const uint16_t* tile = blk + (c * 2 + h) * 512;
        for (int p = 0; p < 16; ++p) t[p] = _mm512_load_si512(tile + p * 32);
        transpose16(t);  // t[i]: row h0 + i's 32 bf16 of chunk c, in order
        for (int64_t i = i0; i < i1; ++i) {
          const int64_t r = h0 + i;
          if (r >= fours && x[r] == 0.f) continue;
          const __m512 a = _mm512_set1_ps(x[r]);
          lo = _mm512_fmadd_ps(a, widen(_mm512_castsi512_si256(t[i])), lo);
          hi = _mm512_fmadd_ps(a, widen(_mm512_extracti64x4_epi64(t[i], 1)), hi);
        }
      }
      _mm512_storeu_ps(y + 32 * c, lo);
      _mm512_storeu_ps(y + 32 * c + 16, hi);
    }
  }
}

}  // namespace slotlm::kernels::detail
