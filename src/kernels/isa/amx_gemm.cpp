// SPDX-License-Identifier: MIT
// AMX-BF16 GEMM for prefill-sized products (see amx_gemm.h). Compiled with -mamx-tile -mamx-bf16
// -mavx512f; called only after amx_available().
//
// Tiles (palette 1, each 16 rows x 64 bytes): C0..C3 accumulate a 32-row x 32-feature block of y in
// f32, tiles 4/5 hold 16 activation rows x 32 k each (read in place, row stride k), tiles 6/7 hold
// 16 features x 32 k of W as 16 rows of bf16 pairs (the layout TDPBF16PS reads its second operand
// in). Threads take 32-feature blocks as they finish the last one; for each block the tiles read W
// in that layout, either laid out once at load (`wt`, amx_pack_tiles) or re-laid out here once per
// k block (amx_pack_weights, a 16 x 16 transpose of 32-bit pairs per tile), and every activation
// row block runs over it, so one block serves all n rows and every term. Laid out at load, a
// 512-token prefill of Qwen2.5-0.5B took 485 vs 558 ms (2 terms) and 309 vs 353 ms (1 term) in
// one process, interleaved: the transposes and the cold read behind them were ~12% of it.
#include "kernels/isa/amx_gemm.h"

#include <immintrin.h>
#include <omp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

#include "core/aligned.h"
#include "kernels/dispatch.h"
#include "kernels/isa/amx_intrinsics.h"
#include "kernels/isa/bf16_avx512.h"
#include "kernels/isa/transpose_avx512.h"

namespace slotlm::kernels::detail {

namespace {

constexpr long kArchReqXcompPerm = 0x1023;  // arch_prctl: ask for an extended state component
constexpr long kXfeatureXtiledata = 18;     // the AMX tile data

// The 64-byte LDTILECFG operand: palette 1, tiles 0..7 of 16 rows x 64 bytes.
struct alignas(64) TileConfig {
  uint8_t palette = 0;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

constexpr TileConfig make_tile_config() {
  TileConfig c;
  c.palette = 1;
  for (int i = 0; i < 8; ++i) {
    c.colsb[i] = 64;
    c.rows[i] = 16;
  }
  return c;
}

// A constant in static storage, not a stack object: GCC 12's _tile_loadconfig tells the compiler
// it reads only the first byte of its operand, so the stores filling a local config can be dropped
// as dead (seen: an out-of-line config function loaded 0-row tiles, and the next tile op faulted).
constexpr TileConfig kTileConfig = make_tile_config();
static_assert(sizeof(TileConfig) == 64);

}  // namespace

void amx_load_tile_config() { _tile_loadconfig(&kTileConfig); }

namespace {

// One 32-row x 32-feature block of y over k columns [0, kc) of the packed weights `wp` and of the
// activations `a` (row stride lda, term stride term_stride). C starts from y (accumulate), from the
// bias (stride-0 tile load of 16 copies), or from zero.
void block(const uint16_t* a, int64_t lda, int64_t term_stride, int terms, const uint16_t* wp, int64_t kc,
           const float* bias, bool accumulate, float* y, int64_t ldy) {
  const int64_t ys = ldy * int64_t(sizeof(float));
  tile_barrier();  // the packed weights and activations are written before the tiles load them
  if (accumulate) {
    _tile_loadd(0, y, ys);
    _tile_loadd(1, y + 16, ys);
    _tile_loadd(2, y + 16 * ldy, ys);
    _tile_loadd(3, y + 16 * ldy + 16, ys);
  } else if (bias) {
    _tile_loadd(0, bias, 0);
    _tile_loadd(1, bias + 16, 0);
    _tile_loadd(2, bias, 0);
    _tile_loadd(3, bias + 16, 0);
  } else {
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
  }
  const int64_t as = lda * int64_t(sizeof(uint16_t));
  // Software-pipelined: step s = (chunk, term) loads the operands of step s + 1 into each tile as
  // soon as its own products have read it, so the loads overlap the remaining products (AMX issues
  // in order and does not rename tiles). The products per accumulator keep their order (chunk, then
  // term), so the sums are bit for bit those of the unpipelined loop. In one process, interleaved,
  // Model::forward of 512 tokens vs loading each operand right before its first product: 0.5B
  // exact 583 vs 639, 807 vs 852, 635 vs 790 ms; fast 430 vs 448, 405 vs 422, 425 vs 458; 1.5B exact
  // 2722 vs 2840, fast 1107 vs 1168.
  const int64_t steps = kc / 32 * terms;
  auto act = [&](int64_t s) { return a + (s % terms) * term_stride + (s / terms) * 32; };
  _tile_loadd(4, a, as);
  _tile_loadd(6, wp, 64);
  _tile_loadd(5, a + 16 * lda, as);
  _tile_loadd(7, wp + 512, 64);
  for (int64_t s = 0; s < steps; ++s) {
    const bool more = s + 1 < steps, next_chunk = more && (s + 1) % terms == 0;
    const uint16_t* an = more ? act(s + 1) : a;
    const uint16_t* wn = next_chunk ? wp + (s + 1) / terms * 1024 : wp;
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    if (more) _tile_loadd(4, an, as);
    _tile_dpbf16ps(2, 5, 6);
    if (next_chunk) _tile_loadd(6, wn, 64);
    _tile_dpbf16ps(3, 5, 7);
    if (more) _tile_loadd(5, an + 16 * lda, as);
    if (next_chunk) _tile_loadd(7, wn + 512, 64);
  }
  _tile_stored(0, y, ys);
  _tile_stored(1, y + 16, ys);
  _tile_stored(2, y + 16 * ldy, ys);
  _tile_stored(3, y + 16 * ldy + 16, ys);
  tile_barrier();  // and y is stored before anything reads it
}

}  // namespace

bool amx_available() {
  static const bool ok = [] {
#ifdef SLOTLM_AMX_EMULATION  // tile instructions in software (amx_intrinsics.h), when asked for
    const char* e = std::getenv("SLOTLM_AMX_EMULATE");
    return e && std::string_view(e) == "1" && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bf16");
#else
    if (!__builtin_cpu_supports("amx-tile") || !__builtin_cpu_supports("amx-bf16") ||
        !__builtin_cpu_supports("avx512f"))
      return false;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#endif
  }();
  return ok;
}

void amx_pack_weights(const uint16_t* w, int64_t ldw, int64_t j0, int64_t k0, int64_t kc, uint16_t* out) {
  __m512i r[16];
  for (int64_t c = 0; c < kc / 32; ++c) {
    for (int h = 0; h < 2; ++h) {
      const uint16_t* src = w + (j0 + 16 * h) * ldw + k0 + 32 * c;
      for (int j = 0; j < 16; ++j) r[j] = _mm512_loadu_si512(src + j * ldw);  // 16 pairs of row j
      transpose16(r);  // r[p] = pair p of the 16 rows
      uint16_t* dst = out + (c * 2 + h) * 512;
      for (int p = 0; p < 16; ++p) _mm512_storeu_si512(dst + p * 32, r[p]);
    }
  }
}

void amx_pack_tiles(const uint16_t* w, int64_t m, int64_t k, uint16_t* out) {
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t jb = 0; jb < m / 32; ++jb) amx_pack_weights(w, k, jb * 32, 0, k, out + jb * 32 * k);
}

namespace {

// Rows [i0, i0 + rows) (rows <= 32; x padded to 32) x one packed 32-feature block into y (row
// stride ldy), starting from y when `accumulate`, else from the bias or zero. A partial row block
// goes through `tail` so that rows past n are never written.
void row_block(const uint16_t* a, int64_t lda, int64_t term_stride, int terms, const uint16_t* wp, int64_t kc,
               const float* bias, bool accumulate, int64_t rows, float* y, int64_t ldy, float* tail) {
  if (rows == kAmxRowBlock) {
    block(a, lda, term_stride, terms, wp, kc, bias, accumulate, y, ldy);
    return;
  }
  for (int64_t i = 0; i < rows && accumulate; ++i) std::memcpy(tail + i * 32, y + i * ldy, 32 * sizeof(float));
  block(a, lda, term_stride, terms, wp, kc, bias, accumulate, tail, 32);
  for (int64_t i = 0; i < rows; ++i) std::memcpy(y + i * ldy, tail + i * 32, 32 * sizeof(float));
}

// h = silu(g) * u for a 32 x 32 block (rows valid rows, stride 32), written as `terms` bf16 terms
// at h (row stride ldh, term stride term_stride) exactly as split_bf16_terms would write it: the
// same silu_mul kernel, the same rounding, the same exact residuals.
void swiglu_epilogue(const KernelTable& tab, float* g, const float* u, int64_t rows, int terms, uint16_t* h,
                     int64_t ldh, int64_t term_stride) {
  tab.silu_mul(g, u, rows * 32, g);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t c = 0; c < 32; c += 16) {
      __m512 rest = _mm512_load_ps(g + i * 32 + c);
      for (int t = 0; t < terms; ++t)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(h + t * term_stride + i * ldh + c), next_bf16_term(rest));
    }
}

}  // namespace

namespace {
// Rows per group when the weights come laid out for the tiles: every 32-feature block runs over one
// group of row blocks before the next group starts, so that the activations a k block reads
// (rows x kc x 2 bytes x terms) stay within kAmxRowGroupBytes, the L2 of a core here, however long
// the prompt; the weight blocks are then read once per group. Groups are equal, multiples of 32.
// 512-token prefill, in one process, interleaved, ms (budget 2 MiB / 1 MiB / 512 KiB / none):
// Qwen2.5-1.5B 2 terms 1819 / 1912 / 2104 / 1986, 1970 / 2059 / 2530 / 2347, 1709 / 1732 / 2034 /
// 1890; 1 term 1153 / 1005 / 1224 / 1218, 1083 / 1039 / 1141 / 1069, 1032 / 1044 / 1219 / 1105;
// Qwen2.5-0.5B 2 terms 523 / 542 / 551 / 517, 493 / 520 / 553 / 480, 470 / 492 / 500 / 474.
constexpr int64_t kAmxRowGroupBytes = int64_t(2) << 20;
int64_t row_group(int64_t kc, int terms, int64_t n_pad) {
  const int64_t fit = std::max(kAmxRowBlock, kAmxRowGroupBytes / (kc * 2 * terms) / kAmxRowBlock * kAmxRowBlock);
  const int64_t groups = (n_pad + fit - 1) / fit;
  return (n_pad / kAmxRowBlock + groups - 1) / groups * kAmxRowBlock;
}
}  // namespace

void amx_gemm_bf16(const uint16_t* x, int64_t n, int terms, const uint16_t* w, const uint16_t* wt, int64_t m,
                   int64_t k, const float* bias, float* y) {
  const int64_t n_pad = amx_rows_padded(n);
  const int64_t kb_len = k <= kAmxKWhole ? k : kAmxKBlock;
  const int64_t blocks = m / 32;
#pragma omp parallel if (n * m * k >= (int64_t(1) << 20))
  {
    thread_local AlignedVector<uint16_t> packed;
    packed.resize(size_t(kb_len * 32));
    alignas(64) float tail[32 * 32];  // the last row block when n is not a multiple of 32
    amx_load_tile_config();
    const int64_t group = wt ? row_group(kb_len, terms, n_pad) : n_pad;
    for (int64_t g0 = 0; g0 < n_pad; g0 += group)
    for (int64_t k0 = 0; k0 < k; k0 += kb_len) {
      const int64_t kc = std::min(kb_len, k - k0);
#pragma omp for schedule(dynamic, 1)  // balances a core the host slows: pp512 exact 540-724 vs 404-420 tok/s static
      for (int64_t jb = 0; jb < blocks; ++jb) {
        const int64_t j0 = jb * 32;
        const uint16_t* wb = wt ? amx_tile_block(wt, k, jb, k0) : packed.data();
        if (!wt) amx_pack_weights(w, k, j0, k0, kc, packed.data());
        const float* bj = bias ? bias + j0 : nullptr;
        for (int64_t i0 = g0; i0 < std::min(n_pad, g0 + group); i0 += kAmxRowBlock)
          row_block(x + i0 * k + k0, k, n_pad * k, terms, wb, kc, bj, k0 > 0,
                    std::min(kAmxRowBlock, n - i0), y + i0 * m + j0, m, tail);
      }
    }
    _tile_release();
  }
}

void amx_swiglu_bf16(const uint16_t* x, int64_t n, int terms, const uint16_t* wg, const uint16_t* wgt,
                     const float* bg, const uint16_t* wu, const uint16_t* wut, const float* bu, int64_t m,
                     int64_t k, float* gate, float* up, uint16_t* h) {
  const int64_t n_pad = amx_rows_padded(n);
  const int64_t kb_len = k <= kAmxKWhole ? k : kAmxKBlock;
  const int64_t blocks = m / 32;
  const KernelTable& tab = kernel_table();
#pragma omp parallel if (n * m * k >= (int64_t(1) << 19))
  {
    thread_local AlignedVector<uint16_t> packed_g, packed_u;
    packed_g.resize(size_t(kb_len * 32));
    packed_u.resize(size_t(kb_len * 32));
    alignas(64) float cg[32 * 32], cu[32 * 32];  // the last k block's gate and up, one row block
    amx_load_tile_config();
    const int64_t group = wgt && wut ? row_group(kb_len, terms, n_pad) : n_pad;
    for (int64_t g0 = 0; g0 < n_pad; g0 += group)
    for (int64_t k0 = 0; k0 < k; k0 += kb_len) {
      const int64_t kc = std::min(kb_len, k - k0);
      const bool last = k0 + kc == k;
#pragma omp for schedule(dynamic, 1)
      for (int64_t jb = 0; jb < blocks; ++jb) {
        const int64_t j0 = jb * 32;
        const uint16_t* pg = wgt ? amx_tile_block(wgt, k, jb, k0) : packed_g.data();
        const uint16_t* pu = wut ? amx_tile_block(wut, k, jb, k0) : packed_u.data();
        if (!wgt) amx_pack_weights(wg, k, j0, k0, kc, packed_g.data());
        if (!wut) amx_pack_weights(wu, k, j0, k0, kc, packed_u.data());
        const float* bgj = bg ? bg + j0 : nullptr;
        const float* buj = bu ? bu + j0 : nullptr;
        for (int64_t i0 = g0; i0 < std::min(n_pad, g0 + group); i0 += kAmxRowBlock) {
          const int64_t rows = std::min(kAmxRowBlock, n - i0);
          const uint16_t* a = x + i0 * k + k0;
          float* gb = gate + i0 * m + j0;
          float* ub = up + i0 * m + j0;
          if (!last) {  // partial sums wait in gate / up for the next k block
            row_block(a, k, n_pad * k, terms, pg, kc, bgj, k0 > 0, rows, gb, m, cg);
            row_block(a, k, n_pad * k, terms, pu, kc, buj, k0 > 0, rows, ub, m, cu);
            continue;
          }
          for (int64_t i = 0; i < rows && k0 > 0; ++i) {
            std::memcpy(cg + i * 32, gb + i * m, 32 * sizeof(float));
            std::memcpy(cu + i * 32, ub + i * m, 32 * sizeof(float));
          }
          block(a, k, n_pad * k, terms, pg, kc, bgj, k0 > 0, cg, 32);
          block(a, k, n_pad * k, terms, pu, kc, buj, k0 > 0, cu, 32);
          swiglu_epilogue(tab, cg, cu, rows, terms, h + i0 * m + j0, m, n_pad * m);
        }
      }
    }
    _tile_release();
  }
}

}  // namespace slotlm::kernels::detail
