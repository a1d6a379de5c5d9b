// SPDX-License-Identifier: MIT
#include "kernels/matmul.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/aligned.h"
#include "core/error.h"
#include "kernels/dispatch.h"
#include "kernels/bf16_split.h"
#include "kernels/gemm_dnnl.h"
#include "kernels/isa/amx_gemm.h"
#include "kernels/isa/amx_gemv.h"
#include "kernels/isa/blocked_gemv.h"
#include "kernels/isa/dot_gemv.h"
#include "kernels/ops.h"
#include "kernels/work_shares.h"

namespace slotlm::kernels {

namespace {
// Below this many multiply-adds a parallel region costs more than it saves (thread wake-up is
// ~microseconds, worse when cores are shared).
constexpr int64_t kMinParallelWork = 1 << 16;

std::atomic<int> g_backend{-1};  // -1: not read from the environment yet
std::atomic<bool> g_amx_on{true};  // set_amx_enabled; SLOTLM_AMX=0 clears it
std::atomic<bool> g_tiles_on{true};  // set_amx_tiles_enabled
std::atomic<bool> g_dot_on{true};  // set_bf16_dot_enabled; SLOTLM_BF16_DOT=0 clears it
std::atomic<bool> g_blocked_on{true};  // set_blocked_enabled
std::atomic<bool> g_shares_on{true};  // set_gemv_shares_enabled
std::atomic<bool> g_lookahead_on{true};  // set_gemv_lookahead_enabled
std::atomic<bool> g_wide_walks_on{true};  // set_gemv_wide_walks_enabled

GemmBackend backend() {
  int b = g_backend.load(std::memory_order_relaxed);
  if (b < 0) {
    const char* env = std::getenv("SLOTLM_GEMM");
    b = int(env && std::strcmp(env, "own") == 0 ? GemmBackend::kOwn : GemmBackend::kAuto);
    if (const char* terms = std::getenv("SLOTLM_BF16_TERMS"); terms && *terms)
      detail::set_bf16_terms(std::atoi(terms));
    if (const char* amx = std::getenv("SLOTLM_AMX"); amx && std::strcmp(amx, "0") == 0)
      g_amx_on.store(false, std::memory_order_relaxed);
    if (const char* dot = std::getenv("SLOTLM_BF16_DOT"); dot && std::strcmp(dot, "0") == 0)
      g_dot_on.store(false, std::memory_order_relaxed);
    g_backend.store(b, std::memory_order_relaxed);
  }
  return GemmBackend(b);
}

// Rows [r0, r1) of `m` for thread `t` of `nt`: contiguous, multiples of `step` (the gemv row tile,
// or the blocked layout's 64 rows), so each thread streams one stretch of the weight matrix.
void thread_rows(int64_t m, int t, int nt, int64_t* r0, int64_t* r1, int64_t step = 4) {
  const int64_t blocks = (m + step - 1) / step;
  *r0 = std::min(m, blocks * t / nt * step);
  *r1 = std::min(m, blocks * (t + 1) / nt * step);
}
std::atomic<int64_t> g_min_work{kGemmMinWork};  // see set_gemm_min_work
}  // namespace

void set_gemm_min_work(int64_t macs) { g_min_work.store(macs, std::memory_order_relaxed); }

GemmBackend gemm_backend() { return backend(); }

void set_gemm_backend(GemmBackend b) {
  backend();  // read the environment first so it cannot override this call later
  g_backend.store(int(b), std::memory_order_relaxed);
}

void set_bf16_gemm_terms(int terms) {
  backend();
  detail::set_bf16_terms(terms);
}

int bf16_gemm_terms() {
  backend();
  return detail::bf16_terms();
}

void set_amx_enabled(bool on) {
  backend();
  g_amx_on.store(on, std::memory_order_relaxed);
}

bool amx_enabled() {
  backend();
  return g_amx_on.load(std::memory_order_relaxed) && active_isa() == Isa::kAvx512 && detail::amx_available();
}

// Defined here, compiled without ISA flags, so that asking runs on any CPU.
bool detail::bf16_dot_available() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
}

void set_bf16_dot_enabled(bool on) {
  backend();
  g_dot_on.store(on, std::memory_order_relaxed);
}

namespace {
// The dot products take decode only at 1 term (`fast`). At 2 (the default, `exact`) they measured
// no faster than the FMA gemv, which is f32 exact: 0.5B on Zen 5, one process, alternating, 18.5 vs
// 18.8 ms per token and 37.2 vs 38.3 ms per step of 8 sequences (1 term: 21.9 vs 22.9, 32.5 vs 38.6).
constexpr int kDotMaxTerms = 1;
}  // namespace

bool bf16_dot_enabled() {
  backend();
  return g_dot_on.load(std::memory_order_relaxed) && detail::bf16_terms() <= kDotMaxTerms &&
         active_isa() == Isa::kAvx512 && !amx_enabled() && detail::bf16_dot_available();
}

bool amx_tiles_fit(const MatView& w) { return w.dtype == DType::kBF16 && detail::amx_gemm_fits(w.rows, w.cols); }

bool amx_tiles_wanted() {
  const char* env = std::getenv("SLOTLM_AMX_LAYOUT");
  return amx_enabled() && backend() == GemmBackend::kAuto && !(env && std::strcmp(env, "0") == 0);
}

void pack_amx_tiles(const MatView& w, uint16_t* out) {
  if (!amx_tiles_fit(w)) fail("pack_amx_tiles: a ", w.rows, " x ", w.cols, " ", dtype_name(w.dtype), " weight does not fit the tiles");
  detail::amx_pack_tiles(static_cast<const uint16_t*>(w.data), w.rows, w.cols, out);
}

void set_amx_tiles_enabled(bool on) { g_tiles_on.store(on, std::memory_order_relaxed); }

namespace {
// w's tile layout when the kernels may read it, else null.
const uint16_t* tiles_of(const MatView& w) {
  return g_tiles_on.load(std::memory_order_relaxed) ? static_cast<const uint16_t*>(w.tiles) : nullptr;
}
}  // namespace

bool blocked_fit(const MatView& w) { return w.dtype == DType::kBF16 && detail::blocked_fits(w.rows, w.cols); }

bool blocked_wanted() {
  const char* env = std::getenv("SLOTLM_BLOCKED_LAYOUT");
  return !(env && std::strcmp(env, "0") == 0) && backend() == GemmBackend::kAuto && active_isa() == Isa::kAvx512 &&
         !amx_enabled() && detail::bf16_dot_available() && detail::dnnl_prefers_blocked();
}

void pack_blocked(const MatView& w, uint16_t* out) {
  if (!blocked_fit(w)) fail("pack_blocked: a ", w.rows, " x ", w.cols, " ", dtype_name(w.dtype), " weight does not fit the blocks");
  detail::blocked_pack(static_cast<const uint16_t*>(w.data), w.rows, w.cols, out);
}

void set_blocked_enabled(bool on) { g_blocked_on.store(on, std::memory_order_relaxed); }

void set_gemv_shares_enabled(bool on) { g_shares_on.store(on, std::memory_order_relaxed); }

void set_gemv_lookahead_enabled(bool on) { g_lookahead_on.store(on, std::memory_order_relaxed); }

void set_gemv_wide_walks_enabled(bool on) { g_wide_walks_on.store(on, std::memory_order_relaxed); }

namespace {
// w's blocked layout when the kernels may read it (the CPU runs its dot products and the active ISA
// is AVX-512), else null.
const uint16_t* blocked_of(const MatView& w) {
  if (!w.blocked || !g_blocked_on.load(std::memory_order_relaxed) || active_isa() != Isa::kAvx512 ||
      !detail::bf16_dot_available())
    return nullptr;
  return static_cast<const uint16_t*>(w.blocked);
}

// w as the oneDNN products see it: without the blocked layout when the kernels may not read it.
MatView active(const MatView& w) {
  MatView v = w;
  v.blocked = blocked_of(w);
  return v;
}
}  // namespace

void matrix_row(const MatView& w, int64_t r, float* out) {
  if (const uint16_t* wb = blocked_of(w)) {
    detail::blocked_row(wb, w.cols, r, out);
    return;
  }
  convert_to_f32(w.row_ptr(r), w.dtype, w.cols, out);
}

float dot_f32(const float* a, const float* b, int64_t n) { return kernel_table().dot_f32(a, b, n); }

void convert_to_f32(const void* src, DType t, int64_t n, float* dst) {
  switch (t) {
    case DType::kF32:
      std::copy_n(static_cast<const float*>(src), n, dst);
      break;
    case DType::kBF16:
      kernel_table().bf16_to_f32(static_cast<const uint16_t*>(src), n, dst);
      break;
    case DType::kF16:
      kernel_table().f16_to_f32(static_cast<const uint16_t*>(src), n, dst);
      break;
  }
}

namespace {

// Rows [r0, r1) of `w` times x into y's columns [r0, r1) (row stride of y: w.rows).
void gemv_range(const KernelTable& tab, const float* x, int64_t n, const MatView& w, const float* bias,
                int64_t r0, int64_t r1, float* y) {
  const int64_t k = w.cols, m = w.rows;
  const float* b = bias ? bias + r0 : nullptr;
  switch (w.dtype) {
    case DType::kF32:
      tab.gemv_f32(x, n, reinterpret_cast<const float*>(w.row_ptr(r0)), r1 - r0, k, k, b, y + r0, m);
      break;
    case DType::kBF16:
      tab.gemv_bf16(x, n, reinterpret_cast<const uint16_t*>(w.row_ptr(r0)), r1 - r0, k, k, b, y + r0, m);
      break;
    case DType::kF16:
      tab.gemv_f16(x, n, reinterpret_cast<const uint16_t*>(w.row_ptr(r0)), r1 - r0, k, k, b, y + r0, m);
      break;
  }
}

// Rows per work chunk of a gemv: about kGemvChunkBytes of weights.
constexpr int64_t kGemvChunkBytes = 256 << 10;

// The rows of a group of weights (same k), concatenated with each weight's rows rounded up to `pad`,
// cut into chunks of ~kGemvChunkBytes of weights, a multiple of `step` rows, that the threads run
// by for_each_chunk: each its own contiguous share, then what is left of the others' (so a core the
// host slows down does not hold the other back).
struct RowChunks {
  int64_t pad, total = 0, rows = 0, count = 0;
  RowChunks(std::span<const MatmulOut> outs, int64_t pad_rows, int64_t step) : pad(pad_rows) {
    for (const MatmulOut& o : outs) total += padded(o.w.rows);
    const int64_t row_bytes = outs.empty() ? 1 : outs[0].w.cols * int64_t(dtype_size(outs[0].w.dtype));
    rows = std::max<int64_t>(step, kGemvChunkBytes / std::max<int64_t>(row_bytes, 1) / step * step);
    count = (total + rows - 1) / rows;
  }
  int64_t padded(int64_t r) const { return (r + pad - 1) / pad * pad; }
  // fn(out, r0, r1) for each weight's rows [r0, r1) in chunk c.
  template <class F>
  void each(std::span<const MatmulOut> outs, int64_t c, F&& fn) const {
    const int64_t g0 = c * rows, g1 = std::min(total, g0 + rows);
    int64_t base = 0;
    for (const MatmulOut& o : outs) {
      const int64_t r0 = std::max(g0 - base, int64_t(0)), r1 = std::min(g1 - base, o.w.rows);
      if (r1 > r0) fn(o, r0, r1);
      base += padded(o.w.rows);
    }
  }
};

// fn(c) for each chunk of a decode product: in contiguous shares per thread (work_shares.h), or
// handed out in turn when set_gemv_shares_enabled(false) (for benchmarks).
template <class F>
void for_each_chunk(int64_t count, bool parallel, F&& fn) {
  if (g_shares_on.load(std::memory_order_relaxed)) {
    detail::for_each_chunk(count, parallel, fn);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
  for (int64_t c = 0; c < count; ++c) fn(c);
}

// gemv of several weights in one parallel region, on the kernel table's FMA gemv: chunks of a
// multiple of 4 rows (its row tile).
void gemv_group_fma(const float* x, int64_t n, std::span<const MatmulOut> outs) {
  const RowChunks rc(outs, 1, 4);
  if (rc.total == 0) return;
  const KernelTable& tab = kernel_table();
  for_each_chunk(rc.count, n * rc.total * outs[0].w.cols >= kMinParallelWork, [&](int64_t c) {
    rc.each(outs, c, [&](const MatmulOut& o, int64_t r0, int64_t r1) { gemv_range(tab, x, n, o.w, o.bias, r0, r1, o.y); });
  });
}

// Weights whose decode rows run on AMX tiles (isa/amx_gemv.h): bf16 with k a multiple of 32. Rows
// [0, rows / 16 * 16) take the tiles, the rest (fewer than 16) the FMA gemv, so which path a row
// takes depends only on its weight, never on the batch or the chunking.
bool amx_gemv_takes(const MatView& w) { return w.dtype == DType::kBF16 && detail::amx_gemv_fits(w.cols); }

// The gemv group with AMX tiles for the weights that take them. Each weight's rows are padded to 32
// and the chunks are multiples of 32, so every range handed to the tiles starts on a 32-row
// boundary of its weight. x runs in groups of up to 16 rows, packed once per group on the calling
// thread.
void gemv_group_amx(const float* x, int64_t n, std::span<const MatmulOut> outs) {
  const RowChunks rc(outs, 32, 32);
  if (rc.total == 0) return;
  const int64_t k = outs[0].w.cols;
  const KernelTable& tab = kernel_table();
  const int terms = detail::bf16_terms();
  bool any_tiles = false, any_plain = false;
  for (const MatmulOut& o : outs) {
    any_tiles = any_tiles || tiles_of(o.w);
    any_plain = any_plain || (!tiles_of(o.w) && amx_gemv_takes(o.w));
  }
  // x as the second operand (weights read in place) and as the first (weights in the tile layout).
  thread_local AlignedVector<uint16_t> packed, packed_rows;
  const size_t packed_size = size_t(detail::amx_gemv_packed_size(std::min(n, detail::kAmxGemvRows), terms, k));
  packed.resize(any_plain ? packed_size : 0);
  packed_rows.resize(any_tiles ? packed_size : 0);
  const uint16_t* xp = packed.data();
  const uint16_t* xa = packed_rows.data();
  for (int64_t j0 = 0; j0 < n; j0 += detail::kAmxGemvRows) {
    const int64_t nj = std::min(detail::kAmxGemvRows, n - j0);
    if (any_plain) detail::amx_gemv_pack(x + j0 * k, nj, terms, k, packed.data());
    if (any_tiles) detail::amx_gemv_pack_rows(x + j0 * k, nj, terms, k, packed_rows.data());
    for_each_chunk(rc.count, nj * rc.total * k >= kMinParallelWork, [&](int64_t c) {
      rc.each(outs, c, [&](const MatmulOut& o, int64_t r0, int64_t r1) {
        const int64_t m = o.w.rows;
        float* y = o.y + j0 * m;
        if (const uint16_t* wt = tiles_of(o.w)) {  // r0, r1 and m are multiples of 32 here
          detail::amx_gemv_tiles_bf16(xa, nj, terms, detail::amx_tile_block(wt, k, r0 / 32, 0), r1 - r0, k,
                                      o.bias ? o.bias + r0 : nullptr, y + r0, m);
          return;
        }
        if (amx_gemv_takes(o.w)) {
          const int64_t a1 = std::min(r1, m / 16 * 16);
          if (a1 > r0)
            detail::amx_gemv_bf16(xp, nj, terms, reinterpret_cast<const uint16_t*>(o.w.row_ptr(r0)), k, a1 - r0, k,
                                  o.bias ? o.bias + r0 : nullptr, y + r0, m);
          r0 = std::max(r0, a1);
        }
        if (r1 > r0) gemv_range(tab, x + j0 * k, nj, o.w, o.bias, r0, r1, y);
      });
    });
  }
}

// Weights whose decode rows run on the bf16 dot products (isa/dot_gemv.h): bf16 with k a multiple
// of 32, so the path depends only on the weight, never on the batch.
bool dot_gemv_takes(const MatView& w) { return w.dtype == DType::kBF16 && detail::dot_gemv_fits(w.cols); }

// The gemv group on the bf16 dot products: weights in the blocked layout at any number of terms,
// plain ones that dot_gemv_takes at up to kDotMaxTerms; the FMA gemv for the rest. x is packed into
// its bf16 terms once, on the calling thread, then chunks as in gemv_group_fma, of whole 64-row
// blocks when a weight has them (each weight's rows padded to 64, so every range handed to the
// blocked kernel starts on a block).
void gemv_group_dot(const float* x, int64_t n, std::span<const MatmulOut> outs) {
  bool any_blocked = false;
  for (const MatmulOut& o : outs) any_blocked = any_blocked || blocked_of(o.w);
  const RowChunks rc = any_blocked ? RowChunks(outs, detail::kBlockRows, detail::kBlockRows) : RowChunks(outs, 1, 4);
  if (rc.total == 0) return;
  const int64_t k = outs[0].w.cols;
  const int terms = detail::bf16_terms();
  const KernelTable& tab = kernel_table();
  thread_local AlignedVector<uint16_t> packed;
  packed.resize(size_t(detail::dot_gemv_packed_size(n, terms, k)));
  detail::dot_gemv_pack(x, n, terms, k, packed.data());
  const uint16_t* xp = packed.data();
  const bool lookahead = g_lookahead_on.load(std::memory_order_relaxed);
  const int64_t walk_rows = g_wide_walks_on.load(std::memory_order_relaxed) ? detail::kMaxWalkRows : 4;
  for_each_chunk(rc.count, n * rc.total * k >= kMinParallelWork, [&](int64_t c) {
    rc.each(outs, c, [&](const MatmulOut& o, int64_t r0, int64_t r1) {
      if (const uint16_t* wb = blocked_of(o.w)) {
        // The look-ahead reaches past the chunk: a thread's next chunk is usually the next rows.
        detail::blocked_gemv_bf16(xp, n, terms, wb, k, r0, r1, {lookahead ? o.w.rows : r1, walk_rows}, o.bias, o.y,
                                  o.w.rows);
        return;
      }
      if (!dot_gemv_takes(o.w) || terms > kDotMaxTerms) {
        gemv_range(tab, x, n, o.w, o.bias, r0, r1, o.y);
        return;
      }
      detail::dot_gemv_bf16(xp, n, terms, reinterpret_cast<const uint16_t*>(o.w.row_ptr(r0)), k, r1 - r0, k,
                            o.bias ? o.bias + r0 : nullptr, o.y + r0, o.w.rows);
    });
  });
}

// Decode-sized products. With `amx` (the default backend) bf16 weights run on the AMX tiles when
// AMX is usable, else on the AVX512-BF16 dot products when they have the blocked layout or
// bf16_dot_enabled(); otherwise, and for the other dtypes, the FMA gemv of the kernel table.
void gemv_group(const float* x, int64_t n, std::span<const MatmulOut> outs, bool amx) {
  bool any_bf16 = false, any_blocked = false;  // amx_gemv_takes and dot_gemv_takes accept the same weights
  for (const MatmulOut& o : outs) {
    any_bf16 = any_bf16 || dot_gemv_takes(o.w);
    any_blocked = any_blocked || blocked_of(o.w);
  }
  if (amx && any_bf16 && amx_enabled())
    gemv_group_amx(x, n, outs);
  else if (amx && (any_blocked || (any_bf16 && bf16_dot_enabled())))
    gemv_group_dot(x, n, outs);
  else
    gemv_group_fma(x, n, outs);
}

}  // namespace

void gemv(const float* x, int64_t n, const MatView& w, const float* bias, float* y) {
  const MatmulOut one{w, bias, y};
  gemv_group(x, n, std::span<const MatmulOut>(&one, 1), false);
}

namespace {
bool use_dnnl(int64_t n, const MatView& w) {
  return n >= kGemmMinRows && n * w.rows * w.cols >= g_min_work.load(std::memory_order_relaxed) &&
         backend() == GemmBackend::kAuto && detail::dnnl_supports(w.dtype);
}

// Prefill-sized bf16 products on AMX tiles (isa/amx_gemm.h) instead of oneDNN: measured 20-35%
// faster per product in one process, interleaved (bench/RESULTS.md), mostly because the tiles
// share each re-laid-out weight block between the bf16 terms and all rows.
bool use_amx(int64_t n, const MatView& w) {
  return use_dnnl(n, w) && w.dtype == DType::kBF16 && detail::amx_gemm_fits(w.rows, w.cols) && amx_enabled();
}

// x split into bf16 terms once (rows padded to the tiles' 32), then one AMX product per weight.
void amx_group(const float* x, int64_t n, std::span<const MatmulOut> outs) {
  const int terms = detail::bf16_terms();
  const int64_t k = outs[0].w.cols;
  const int64_t n_pad = detail::amx_rows_padded(n);
  const uint16_t* xb = detail::split_bf16_terms(x, n, k, terms, n_pad);
  for (const MatmulOut& o : outs)
    detail::amx_gemm_bf16(xb, n, terms, static_cast<const uint16_t*>(o.w.data), tiles_of(o.w), o.w.rows, k, o.bias,
                          o.y);
}
}  // namespace

namespace {
// The most weights matmul_multi hands to oneDNN as one group (q/k/v).
constexpr size_t kMaxGroup = 4;
}  // namespace

void matmul_multi(const float* x, int64_t n, std::span<const MatmulOut> outs) {
  bool any_dnnl = false, all_amx = !outs.empty();
  for (const MatmulOut& o : outs) {
    if (o.w.cols != outs[0].w.cols) fail("matmul_multi: weights of ", o.w.cols, " and ", outs[0].w.cols, " columns");
    any_dnnl = any_dnnl || use_dnnl(n, o.w);
    all_amx = all_amx && use_amx(n, o.w);
  }
  if (all_amx) {  // prefill on AMX: one split of x for all the weights
    amx_group(x, n, outs);
    return;
  }
  if (!any_dnnl) {  // decode: one gemv pass over all weights (no allocation in the token loop)
    gemv_group(x, n, outs, backend() == GemmBackend::kAuto);
    return;
  }
  bool all_dnnl = true;
  for (const MatmulOut& o : outs) all_dnnl = all_dnnl && use_dnnl(n, o.w);
  if (all_dnnl && outs.size() <= kMaxGroup) {  // prefill on oneDNN: one split of x for all the weights
    MatmulOut views[kMaxGroup];
    for (size_t i = 0; i < outs.size(); ++i) views[i] = {active(outs[i].w), outs[i].bias, outs[i].y};
    detail::dnnl_matmul_group(x, n, std::span<const MatmulOut>(views, outs.size()));
    return;
  }
  for (const MatmulOut& o : outs) matmul(x, n, o.w, o.bias, o.y);  // prefill: per weight
}

void matmul(const float* x, int64_t n, const MatView& w, const float* bias, float* y) {
  // Few rows (decode, SLOT's small batches): our gemv streams the weights once at memory speed, on
  // AMX tiles with the bf16 terms for bf16 weights, else with exact f32 maths. Many rows (prefill):
  // a blocked GEMM (slotlm's AMX tiles, or oneDNN) is compute-bound and ~10-50x faster; for bf16
  // weights x is split into bf16 terms (set_bf16_gemm_terms, tolerances in
  // tests/kernels/test_matmul.cpp).
  if (use_amx(n, w)) {
    const MatmulOut one{w, bias, y};
    amx_group(x, n, std::span<const MatmulOut>(&one, 1));
    return;
  }
  if (use_dnnl(n, w)) {
    detail::dnnl_matmul(x, n, active(w), bias, y);
    return;
  }
  const MatmulOut one{w, bias, y};
  gemv_group(x, n, std::span<const MatmulOut>(&one, 1), backend() == GemmBackend::kAuto);
}

void swiglu_mlp(const float* x, int64_t n, const MatView& wg, const float* bg, const MatView& wu,
                const float* bu, const MatView& wd, const float* bd, float* gate, float* up, float* y) {
  // The transposed oneDNN MLP only when the AMX tiles do not take these weights (they run the
  // plain layout below as fast or faster).
  const bool amx = use_amx(n, wg) && use_amx(n, wu) && use_amx(n, wd);
  if (!amx && !bg && !bu && use_dnnl(n, wg) && use_dnnl(n, wu) && use_dnnl(n, wd) &&
      detail::dnnl_swiglu(x, n, active(wg), active(wu), active(wd), bd, gate, up, y))
    return;
  if (amx && wu.rows == wg.rows && wu.cols == wg.cols && wd.cols == wg.rows) {
    // Prefill on AMX: gate, up and silu * mul in one pass that writes the down projection's bf16
    // terms directly (isa/amx_gemm.h), then the down product.
    const int terms = detail::bf16_terms();
    const int64_t k = wg.cols, m = wg.rows;
    const int64_t n_pad = detail::amx_rows_padded(n);
    const uint16_t* xb = detail::split_bf16_terms(x, n, k, terms, n_pad, 0);
    uint16_t* hb = detail::bf16_terms_buffer(n, m, terms, n_pad, 1);
    detail::amx_swiglu_bf16(xb, n, terms, static_cast<const uint16_t*>(wg.data), tiles_of(wg), bg,
                            static_cast<const uint16_t*>(wu.data), tiles_of(wu), bu, m, k, gate, up, hb);
    detail::amx_gemm_bf16(hb, n, terms, static_cast<const uint16_t*>(wd.data), tiles_of(wd), wd.rows, m, bd, y);
    return;
  }
  const MatmulOut gate_up[2] = {{wg, bg, gate}, {wu, bu, up}};
  matmul_multi(x, n, gate_up);
  silu_mul(gate, up, n * wg.rows, gate);
  matmul(gate, n, wd, bd, y);
}

void matvec_t(const float* x, const MatView& w, float* y) {
  const int64_t m = w.rows, k = w.cols;
  const int n_thr = omp_get_max_threads();
  const KernelTable& tab = kernel_table();
  std::vector<float> partial(size_t(n_thr) * size_t(k), 0.f);
  // The tile layout when there is one (the LM head's, with AMX): the same bits as the plain rows,
  // which were given back at load.
  const uint16_t* wt = active_isa() == Isa::kAvx512 ? tiles_of(w) : nullptr;
  // Or the blocked layout (the LM head's without AMX): f32 exact products as on the plain rows.
  const uint16_t* wb = blocked_of(w);
  int used = 1;
#pragma omp parallel if (m * k >= kMinParallelWork)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
#pragma omp single
    used = nt;
    float* acc = partial.data() + size_t(t) * size_t(k);
    int64_t r0, r1;
    thread_rows(m, t, nt, &r0, &r1, wb ? detail::kBlockRows : 4);
    if (r1 > r0 && wt) {
      detail::tiles_gemv_t_bf16(x, wt, r0, r1, k, acc);
    } else if (r1 > r0 && wb) {
      thread_local AlignedVector<float> scratch;
      scratch.resize(size_t(16 * k));
      detail::blocked_gemv_t_bf16(x, wb, k, r0, r1, scratch.data(), acc);
    } else if (r1 > r0) {
      switch (w.dtype) {
        case DType::kF32: tab.gemv_t_f32(x + r0, reinterpret_cast<const float*>(w.row_ptr(r0)), r1 - r0, k, k, acc); break;
        case DType::kBF16: tab.gemv_t_bf16(x + r0, reinterpret_cast<const uint16_t*>(w.row_ptr(r0)), r1 - r0, k, k, acc); break;
        case DType::kF16: tab.gemv_t_f16(x + r0, reinterpret_cast<const uint16_t*>(w.row_ptr(r0)), r1 - r0, k, k, acc); break;
      }
    }
  }
  std::copy_n(partial.data(), k, y);
  for (int t = 1; t < used; ++t) tab.axpy_f32(1.f, partial.data() + size_t(t) * size_t(k), k, y);
}

}  // namespace slotlm::kernels
