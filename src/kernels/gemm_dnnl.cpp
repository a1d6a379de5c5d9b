// SPDX-License-Identifier: MIT
#include "kernels/gemm_dnnl.h"

#include <algorithm>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "core/aligned.h"
#include "core/error.h"
#include "kernels/bf16_split.h"
#include "kernels/dispatch.h"
#include "kernels/ops.h"

namespace slotlm::kernels::detail {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// One stream per calling thread (server workers run products concurrently).
dnnl::stream& thread_stream() {
  thread_local dnnl::stream s(cpu_engine());
  return s;
}

struct Prim {
  dnnl::matmul prim;
  dnnl::memory::desc src, wei, bias, dst;
};

// How the weights operand `[k, m]` is stored: W `[m, k]` row-major (tag ba), `[k, m]` row-major
// (tag ab), or W in oneDNN's blocked layout (isa/blocked_gemv.h).
enum class Wei { kBa, kAb, kBlocked };

using PrimKey = std::tuple<int64_t, int64_t, int64_t, DType, bool, bool, bool, Wei>;

// The most recently used primitives, at most kDnnlMaxPrimitives: creating one costs ~1-4 ms (JIT) and
// holds ~0.4 MB (measured: 100 new row counts of one 512-wide product added 81 MB of RSS). Every new
// prompt length brings ~8 new shapes, so an unbounded cache grows without limit in a server or
// an evaluation; with the bound a prompt of a length seen recently reuses its primitives, an old
// one pays the JIT again. oneDNN's own primitive cache is disabled (capacity 0) so an evicted
// primitive's memory is really freed.

struct PrimCache {
  std::mutex mu;
  std::list<PrimKey> lru;  // front: most recent
  std::map<PrimKey, std::pair<std::shared_ptr<const Prim>, std::list<PrimKey>::iterator>> map;
};

PrimCache& prim_cache() {
  static PrimCache* c = [] {
    dnnl::set_primitive_cache_capacity(0);
    return new PrimCache();  // never destroyed: primitives may run until the process exits
  }();
  return *c;
}

// The primitive for (n, m, k, dtype, bias?, accumulate?, layouts). `accumulate` adds the product to
// what dst holds (oneDNN's sum post-op), for the later bf16 terms. `src_t`: the source `[n, k]` is
// stored transposed (`[k, n]` row-major, tag ba); the weights operand as `wei` says. The caller
// holds the returned pointer while it executes, so an eviction by another thread cannot free a
// running primitive.
std::shared_ptr<const Prim> get_prim(int64_t n, int64_t m, int64_t k, DType wt, bool has_bias,
                                     bool accumulate = false, bool src_t = false, Wei wei = Wei::kBa) {
  PrimCache& c = prim_cache();
  std::lock_guard<std::mutex> lock(c.mu);
  const PrimKey key = std::make_tuple(n, m, k, wt, has_bias, accumulate, src_t, wei);
  auto it = c.map.find(key);
  if (it != c.map.end()) {
    c.lru.splice(c.lru.begin(), c.lru, it->second.second);
    return it->second.first;
  }
  const dt in = wt == DType::kBF16 ? dt::bf16 : dt::f32;
  auto p = std::make_shared<Prim>();
  p->src = dnnl::memory::desc({n, k}, in, src_t ? tag::ba : tag::ab);
  // W `[m, k]` row-major is W^T in `ba` order.
  p->wei = dnnl::memory::desc({k, m}, in, wei == Wei::kAb ? tag::ab : wei == Wei::kBlocked ? tag::BA16a64b2a : tag::ba);
  p->dst = dnnl::memory::desc({n, m}, dt::f32, tag::ab);
  if (has_bias) p->bias = dnnl::memory::desc({1, m}, dt::f32, tag::ab);
  dnnl::primitive_attr attr;
  if (accumulate) {
    dnnl::post_ops ops;
    ops.append_sum(1.f);
    attr.set_post_ops(ops);
  }
  auto pd = has_bias ? dnnl::matmul::primitive_desc(dnnl::matmul::desc(p->src, p->wei, p->bias, p->dst), attr, cpu_engine())
                     : dnnl::matmul::primitive_desc(dnnl::matmul::desc(p->src, p->wei, p->dst), attr, cpu_engine());
  p->prim = dnnl::matmul(pd);
  c.lru.push_front(key);
  c.map.emplace(key, std::make_pair(p, c.lru.begin()));
  while (c.map.size() > kDnnlMaxPrimitives) {
    c.map.erase(c.lru.back());
    c.lru.pop_back();
  }
  return p;
}

}  // namespace

size_t dnnl_cached_primitives() {
  PrimCache& c = prim_cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.map.size();
}

bool dnnl_supports(DType t) { return t == DType::kF32 || t == DType::kBF16; }

int g_bf16_terms = 2;

void set_bf16_terms(int terms) {
  if (terms < 1 || terms > 3) fail("kernels: bf16 split terms must be 1, 2 or 3, got ", terms);
  g_bf16_terms = terms;
}

int bf16_terms() { return g_bf16_terms; }

namespace {

// x as bf16 terms in the per-thread buffer `slot` (bf16_split.h), rows unpadded.
const uint16_t* split_terms(const float* x, int64_t rows, int64_t cols, int terms, int slot = 0) {
  return split_bf16_terms(x, rows, cols, terms, rows, slot);
}

// Runs `p` on the calling thread's stream; `bias` only when the primitive has one. With oneDNN's
// OpenMP CPU runtime execution is synchronous (done when execute() returns); the callers' wait()
// calls keep the code right for an asynchronous stream too.
void execute(const Prim& p, const void* src, const void* wei, const float* bias, float* dst) {
  dnnl::engine& e = cpu_engine();
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, dnnl::memory(p.src, e, const_cast<void*>(src))},
                                             {DNNL_ARG_WEIGHTS, dnnl::memory(p.wei, e, const_cast<void*>(wei))},
                                             {DNNL_ARG_DST, dnnl::memory(p.dst, e, dst)}};
  if (bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(p.bias, e, const_cast<float*>(bias)));
  p.prim.execute(thread_stream(), args);
}

// Output widths from which the bf16 product runs transposed (an LM head: SLOT's z0 and reference
// logits). oneDNN is ~1.5x faster on W `[m, k]` (source) x X^T than on X W^T when k is short and
// m long (511 x 896 x 151936: 145 vs 212 ms per term here); each chunk of kWideChunk output
// features is computed transposed into a per-thread buffer, then transposed into y.
constexpr int64_t kWideOut = 16384;
constexpr int64_t kWideChunk = 4096;

void wide_matmul(const uint16_t* xb, int64_t n, const MatView& w, const float* bias, int terms, float* y) {
  const int64_t m = w.rows, k = w.cols;
  thread_local AlignedVector<float> tmp;
  tmp.resize(size_t(kWideChunk * n));
  float* t = tmp.data();
  const auto* wd = static_cast<const uint16_t*>(w.data);
  for (int64_t c0 = 0; c0 < m; c0 += kWideChunk) {
    const int64_t mc = std::min(kWideChunk, m - c0);
    for (int term = 0; term < terms; ++term)
      execute(*get_prim(mc, n, k, DType::kBF16, false, term > 0), wd + c0 * k, xb + term * n * k, nullptr, t);
    thread_stream().wait();
    // y[i, c0 + j] = t[j, i] (+ bias), in 32 x 32 tiles.
    constexpr int64_t kTile = 32;
#pragma omp parallel for schedule(static) if (mc * n >= (1 << 15))
    for (int64_t jb = 0; jb < mc; jb += kTile) {
      const int64_t j1 = std::min(mc, jb + kTile);
      for (int64_t ib = 0; ib < n; ib += kTile) {
        const int64_t i1 = std::min(n, ib + kTile);
        for (int64_t i = ib; i < i1; ++i) {
          float* yi = y + i * m + c0;
          for (int64_t j = jb; j < j1; ++j) yi[j] = t[j * n + i] + (bias ? bias[c0 + j] : 0.f);
        }
      }
    }
  }
}

}  // namespace

namespace {

// The bf16 product of x's terms `xb` (split_terms of n rows) by W, into y.
void matmul_terms(const uint16_t* xb, int64_t n, int terms, const MatView& w, const float* bias, float* y) {
  const int64_t m = w.rows, k = w.cols;
  if (m >= kWideOut && !w.blocked) {
    wide_matmul(xb, n, w, bias, terms, y);
    return;
  }
  const Wei wei = w.blocked ? Wei::kBlocked : Wei::kBa;
  for (int term = 0; term < terms; ++term) {
    const bool first = term == 0;
    const auto p = get_prim(n, m, k, w.dtype, first && bias != nullptr, !first, false, wei);
    execute(*p, xb + term * n * k, w.blocked ? w.blocked : w.data, first ? bias : nullptr, y);
  }
  thread_stream().wait();
}

}  // namespace

void dnnl_matmul(const float* x, int64_t n, const MatView& w, const float* bias, float* y) {
  const MatmulOut one{w, bias, y};
  dnnl_matmul_group(x, n, std::span<const MatmulOut>(&one, 1));
}

void dnnl_matmul_group(const float* x, int64_t n, std::span<const MatmulOut> outs) {
  if (outs.empty()) return;
  const int64_t k = outs[0].w.cols;
  const uint16_t* xb = nullptr;
  for (const MatmulOut& o : outs) {
    if (o.w.dtype != DType::kBF16) {  // f32: f32 source, f32 accumulation
      execute(*get_prim(n, o.w.rows, k, o.w.dtype, o.bias != nullptr), x, o.w.data, o.bias, o.y);
      thread_stream().wait();
      continue;
    }
    if (!xb) xb = split_terms(x, n, k, g_bf16_terms);
    matmul_terms(xb, n, g_bf16_terms, o.w, o.bias, o.y);
  }
}

bool dnnl_prefers_blocked() {
  static const bool prefers = [] {
    const int64_t n = 512, m = 4864, k = 896;  // an MLP product of a 0.5B-shaped model's prefill
    const dnnl::memory::desc src({n, k}, dt::bf16, tag::ab), dst({n, m}, dt::f32, tag::ab);
    const dnnl::memory::desc any({k, m}, dt::bf16, tag::any), blocked({k, m}, dt::bf16, tag::BA16a64b2a);
    try {
      const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(src, any, dst), cpu_engine());
      return pd.weights_desc() == blocked;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return prefers;
}

bool dnnl_swiglu(const float* x, int64_t n, const MatView& wg, const MatView& wu, const MatView& wd,
                 const float* bd, float* gate, float* up, float* y) {
  const int64_t d = wg.cols, ff = wg.rows;
  if (wg.dtype != DType::kBF16 || wu.dtype != DType::kBF16 || wd.dtype != DType::kBF16) return false;
  if (wg.blocked || wu.blocked || wd.blocked) return false;  // x W^T reads those as they are
  if (wu.rows != ff || wu.cols != d || wd.rows != d || wd.cols != ff) return false;
  dnnl::stream& s = thread_stream();
  const int terms = g_bf16_terms;
  // gate^T, up^T `[ff, n]` = W `[ff, d]` (the source) times the terms of x^T (the weights operand,
  // x `[n, d]` row-major is x^T in `ba` order).
  const uint16_t* xb = split_terms(x, n, d, terms);
  for (const auto& [w, out] : {std::pair{&wg, gate}, std::pair{&wu, up}}) {
    for (int term = 0; term < terms; ++term) {
      const auto p = get_prim(ff, n, d, DType::kBF16, false, term > 0);
      execute(*p, w->data, xb + term * n * d, nullptr, out);
    }
  }
  s.wait();
  // h^T = silu(gate^T) * up^T (element-wise: the layout does not matter), split into bf16 terms of
  // the same `[ff, n]` layout, which is h `[n, ff]` in `ba` order: the down projection's source.
  silu_mul(gate, up, ff * n, gate);
  const uint16_t* hb = split_terms(gate, ff, n, terms, 1);
  for (int term = 0; term < terms; ++term) {
    const bool first = term == 0;
    const auto p = get_prim(n, d, ff, DType::kBF16, first && bd != nullptr, !first, true);
    execute(*p, hb + term * ff * n, wd.data, first ? bd : nullptr, y);
  }
  s.wait();
  return true;
}

}  // namespace slotlm::kernels::detail
