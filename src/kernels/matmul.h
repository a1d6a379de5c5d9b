// SPDX-License-Identifier: MIT
// Matrix products of f32 activations with weights of any dtype (kernels layer).
// Depends on core and oneDNN. Threaded with OpenMP (the runtime oneDNN uses too) over output features.
#pragma once

#include <cstdint>
#include <span>

#include "core/tensor.h"

namespace slotlm::kernels {

// y[i, :] = W x[i, :] + bias for i < n, i.e. y = x W^T (+ bias), the layout of torch's nn.Linear.
// x `[n, k]` f32, w `[m, k]` (f32, bf16 or f16), bias `[m]` f32 or null, y `[n, m]` f32.
// y must not alias x. Accumulates in f32. See matmul.cpp for which rows take which path.
void matmul(const float* x, int64_t n, const MatView& w, const float* bias, float* y);

// One product of a group that shares its input: y = x W^T (+ bias), as in matmul().
struct MatmulOut {
  MatView w;
  const float* bias = nullptr;
  float* y = nullptr;
};
// matmul() of the same x `[n, k]` by several weights (q/k/v, gate/up). Rows that take the gemv
// path (decode) are split among the threads across all the weights in one parallel region: one
// wake-up and barrier instead of one per weight, and every thread streams an equal share.
void matmul_multi(const float* x, int64_t n, std::span<const MatmulOut> outs);

// The SwiGLU MLP: y = (silu(x Wg^T + bg) * (x Wu^T + bu)) Wd^T + bd, x `[n, d]`, y `[n, d]`.
// `gate`, `up` `[n, d_ff]` are scratch. Decode-sized n: gate/up in one gemv pass, then silu*mul
// and the down gemv. Prefill-sized n with bf16 weights on AMX: one fused pass for gate, up,
// silu*mul and the split of h into bf16 terms (bit for bit the separate steps), then down; without
// AMX and with no gate/up biases: oneDNN in a transposed layout (gemm_dnnl.h), with the same bf16
// terms as matmul().
void swiglu_mlp(const float* x, int64_t n, const MatView& wg, const float* bg, const MatView& wu,
                const float* bu, const MatView& wd, const float* bd, float* gate, float* up, float* y);

// y[j] = sum_i x[i] W[i, j]: the transposed product g = W^T r used by SLOT's gradient.
// x `[m]` f32, w `[m, k]`, y `[k]` f32 (overwritten). Accumulates in f32 per thread, then sums.
void matvec_t(const float* x, const MatView& w, float* y);

// Batches of at least this many rows go to oneDNN (when the backend is kAuto and the weight dtype
// is f32 or bf16); smaller ones to slotlm's gemv, which streams each weight once (on AMX tiles for
// bf16 weights when amx_enabled()).
inline constexpr int64_t kGemmMinRows = 16;
// ... and at least this many multiply-adds (default): below it (tiny models, short prompts)
// oneDNN's per-call cost (a primitive per new row count, reorders) outweighs the gemv.
inline constexpr int64_t kGemmMinWork = int64_t(1) << 24;
// Sets that work threshold (tests set 0 to run oneDNN on small shapes). Not thread-safe with
// running kernels.
void set_gemm_min_work(int64_t macs);

enum class GemmBackend {
  kAuto,  // gemv below kGemmMinRows rows, oneDNN above (default)
  kOwn,   // always slotlm's FMA gemv: exact f32 maths for every dtype, no AMX, and attention in f32
          // at every precision (env SLOTLM_GEMM=own)
};
// Selects the matmul backend for later calls (tests, benchmarks). Not thread-safe with running kernels.
void set_gemm_backend(GemmBackend b);
// The backend in use (SLOTLM_GEMM or set_gemm_backend).
GemmBackend gemm_backend();

// bf16 weights on the oneDNN and AMX paths: x is split into `terms` bf16 parts whose products with W are
// exact in f32, so the result's relative error is ~2^-9 (1 term: x rounded to bf16, fastest),
// ~2^-17 (2, the default: within the f32 goldens' 1e-4 and batched-vs-stepped 1e-5 tolerances) or
// ~2^-25 (3). Env SLOTLM_BF16_TERMS sets the start value. Not thread-safe with running kernels.
void set_bf16_gemm_terms(int terms);
// The number of terms in force (after SLOTLM_BF16_TERMS).
int bf16_gemm_terms();

// Prefill-sized products with bf16 weights (k and rows multiples of 32) run on AMX tiles
// (isa/amx_gemm.h) when the CPU has them and the active ISA is avx512, with the same bf16 terms as
// oneDNN's path; otherwise oneDNN. Decode-sized ones (the gemv path) with bf16 weights and k a
// multiple of 32 run on AMX tiles too (isa/amx_gemv.h), with the same terms, so one precision
// setting covers every bf16 product; a row's result does not depend on the batch. On by default;
// env SLOTLM_AMX=0 or set_amx_enabled(false) turns both off (decode then takes the f32 FMA gemv).
// Not thread-safe with running kernels.
void set_amx_enabled(bool on);
// True when those products take the AMX path (enabled, ISA avx512, CPU and OS support).
bool amx_enabled();

// Without AMX, decode-sized products with bf16 weights (k a multiple of 32) run on AVX512-BF16 dot
// products (isa/dot_gemv.h) with x in the same bf16 terms, when the CPU has them, the active ISA is
// avx512 and the precision is 1 term (`fast`); a row's result does not depend on the batch. (Weights
// in the blocked layout, below, take the dot products at every precision whatever this says.) On by
// default; env SLOTLM_BF16_DOT=0 or set_bf16_dot_enabled(false) keeps the FMA gemv. Not thread-safe
// with running kernels.
void set_bf16_dot_enabled(bool on);
// True when those products take the dot-product path.
bool bf16_dot_enabled();

// Weights laid out once for the AMX tiles (MatView::tiles): the prefill GEMM then reads its weight
// blocks as they are instead of re-laying each out per call (the transposes and a cold read of the
// weights were ~12% of a prefill), and decode reads each 1 KB tile in sequence. The results are the
// same bits as from the plain layout (tests/kernels/test_amx_tiles.cpp).
// Whether `w` takes the tile layout: bf16, rows and cols multiples of 32.
bool amx_tiles_fit(const MatView& w);
// Whether laying weights out pays: the products run on AMX (amx_enabled) with the default backend,
// and env SLOTLM_AMX_LAYOUT is not 0 (which saves the load time of the layout, for one-shot runs).
bool amx_tiles_wanted();
// `w` (amx_tiles_fit) in the tile layout into `out` (w.rows * w.cols elements, 64-byte aligned);
// threaded.
void pack_amx_tiles(const MatView& w, uint16_t* out);
// For benchmarks and tests: false makes the kernels ignore MatView::tiles. Not thread-safe with
// running kernels.
void set_amx_tiles_enabled(bool on);

// Without AMX, on CPUs with AVX512-BF16: weights laid out once in oneDNN's blocked layout
// (MatView::blocked, isa/blocked_gemv.h). The prefill's oneDNN products read it without their
// per-call copy of the weights, and decode reads it on the AVX512-BF16 dot products with x in the
// prefill's bf16 terms at every precision (1 at `fast`, 2 at `exact`, as on AMX); a row's result
// does not depend on the batch. Weights without the layout keep the paths above.
// Whether `w` takes the layout: bf16, rows a multiple of 64, cols of 32.
bool blocked_fit(const MatView& w);
// Whether laying weights out pays: AVX512-BF16 without AMX, the default backend, oneDNN's bf16 GEMM
// prefers that layout here, and env SLOTLM_BLOCKED_LAYOUT is not 0.
bool blocked_wanted();
// `w` (blocked_fit) in the layout into `out` (w.rows * w.cols elements, 64-byte aligned); threaded.
void pack_blocked(const MatView& w, uint16_t* out);
// For benchmarks and tests: false makes the kernels ignore MatView::blocked. Not thread-safe with
// running kernels.
void set_blocked_enabled(bool on);

// Decode-sized products split their weights between the threads in contiguous shares, one stream
// per thread, taking from each other's shares at the end (isa-independent; work_shares.h). For
// benchmarks: false hands the chunks out in turn instead (OpenMP's dynamic schedule). Not
// thread-safe with running kernels.
void set_gemv_shares_enabled(bool on);

// Batched decode on the blocked layout walks each block once per 8 rows (isa/blocked_gemv.h): the
// first walk streams it from memory, the later ones (more than 8 rows) read it from cache, and the
// last of them prefetches part of the thread's next block so that memory keeps streaming meanwhile.
// Prefetches only: results are unchanged bit for bit. For benchmarks: false turns the look-ahead
// off. Not thread-safe with running kernels.
void set_gemv_lookahead_enabled(bool on);

// For benchmarks: false walks the blocks once per 4 rows of x instead of 8 (results unchanged bit
// for bit). Not thread-safe with running kernels.
void set_gemv_wide_walks_enabled(bool on);

// Row r of `w` as f32 into out[0, w.cols): from the blocked layout when the kernels read it (a tied
// embedding's lookups), else the stored row converted.
void matrix_row(const MatView& w, int64_t r, float* out);

// matmul through slotlm's own gemv only (any n; weights widened exactly, f32 accumulation).
void gemv(const float* x, int64_t n, const MatView& w, const float* bias, float* y);

// Converts `n` elements of `src` (dtype `t`) to f32.
void convert_to_f32(const void* src, DType t, int64_t n, float* dst);

// sum_i a[i] * b[i] in f32.
float dot_f32(const float* a, const float* b, int64_t n);

}  // namespace slotlm::kernels
