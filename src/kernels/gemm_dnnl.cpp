// SPDX-License-Identifier: MIT
#include "kernels/gemm_dnnl.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "kernels/dispatch.h"

namespace slotlm::kernels::detail {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

dnnl::engine& cpu_engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

struct Prim {
  dnnl::matmul prim;
  dnnl::memory::desc src, wei, bias, dst;
};

// One primitive per (n, m, k, dtype, bias?, accumulate?): creation costs ~0.1-1 ms (JIT), execution
// reuses it. Prefill sees one n per prompt length, so the cache stays small. `accumulate` adds the
// product to what dst holds (oneDNN's sum post-op), for the later bf16 terms.
const Prim& get_prim(int64_t n, int64_t m, int64_t k, DType wt, bool has_bias, bool accumulate = false) {
  static std::mutex mu;
  static std::map<std::tuple<int64_t, int64_t, int64_t, DType, bool, bool>, Prim> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto key = std::make_tuple(n, m, k, wt, has_bias, accumulate);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  const dt in = wt == DType::kBF16 ? dt::bf16 : dt::f32;
  Prim p;
  p.src = dnnl::memory::desc({n, k}, in, tag::ab);
  p.wei = dnnl::memory::desc({k, m}, in, tag::ba);  // W `[m, k]` row-major is W^T in `ba` order
  p.dst = dnnl::memory::desc({n, m}, dt::f32, tag::ab);
  if (has_bias) p.bias = dnnl::memory::desc({1, m}, dt::f32, tag::ab);
  dnnl::primitive_attr attr;
  if (accumulate) {
    dnnl::post_ops ops;
    ops.append_sum(1.f);
    attr.set_post_ops(ops);
  }
  auto pd = has_bias ? dnnl::matmul::primitive_desc(dnnl::matmul::desc(p.src, p.wei, p.bias, p.dst), attr, cpu_engine())
                     : dnnl::matmul::primitive_desc(dnnl::matmul::desc(p.src, p.wei, p.dst), attr, cpu_engine());
  p.prim = dnnl::matmul(pd);
  return cache.emplace(key, std::move(p)).first->second;
}

}  // namespace

bool dnnl_supports(DType t) { return t == DType::kF32 || t == DType::kBF16; }

int g_bf16_terms = 2;

void set_bf16_terms(int terms) {
  if (terms < 1 || terms > 3) fail("kernels: bf16 split terms must be 1, 2 or 3, got ", terms);
  g_bf16_terms = terms;
}

int bf16_terms() { return g_bf16_terms; }

void dnnl_matmul(const float* x, int64_t n, const MatView& w, const float* bias, float* y) {
  const int64_t m = w.rows, k = w.cols;
  dnnl::engine& e = cpu_engine();
  thread_local dnnl::stream s(e);
  if (w.dtype != DType::kBF16) {
    const Prim& p = get_prim(n, m, k, w.dtype, bias != nullptr);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, dnnl::memory(p.src, e, const_cast<float*>(x))},
                                               {DNNL_ARG_WEIGHTS, dnnl::memory(p.wei, e, const_cast<void*>(w.data))},
                                               {DNNL_ARG_DST, dnnl::memory(p.dst, e, y)}};
    if (bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(p.bias, e, const_cast<float*>(bias)));
    p.prim.execute(s, args);
    s.wait();
    return;
  }
  // bf16 weights: x = x_0 + x_1 (+ x_2), each term the bf16 rounding of what the previous ones
  // leave. Products of bf16 numbers are exact in f32, so y = sum_t x_t W^T carries only the last
  // term's rounding: relative error ~2^-9 for 1 term, ~2^-17 for 2 (default), ~2^-25 (f32 level)
  // for 3. The first term writes y (with the bias), each later one adds its product to y in
  // oneDNN's sum post-op: no [terms * n, m] staging buffer (621 MB for SLOT's z0 of a 512-token
  // prompt on a 152k vocabulary) and no extra pass over y.
  const int terms = g_bf16_terms;
  thread_local std::vector<uint16_t> xb;
  xb.resize(size_t(terms * n * k));
  uint16_t* xbp = xb.data();  // the caller's buffer (thread_local names differ per thread)
  const KernelTable& t = kernel_table();
#pragma omp parallel if (n * k >= (1 << 15))
  {
    std::vector<float> rest(static_cast<size_t>(k)), back(static_cast<size_t>(k));
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      std::copy_n(x + i * k, k, rest.data());
      for (int term = 0; term < terms; ++term) {
        uint16_t* dst = xbp + (term * n + i) * k;
        t.f32_to_bf16(rest.data(), k, dst);
        if (term + 1 < terms) {
          t.bf16_to_f32(dst, k, back.data());
          for (int64_t j = 0; j < k; ++j) rest[size_t(j)] -= back[size_t(j)];  // exact (Sterbenz)
        }
      }
    }
  }
  for (int term = 0; term < terms; ++term) {
    const bool first = term == 0;
    const Prim& p = get_prim(n, m, k, w.dtype, first && bias != nullptr, !first);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, dnnl::memory(p.src, e, xbp + term * n * k)},
                                               {DNNL_ARG_WEIGHTS, dnnl::memory(p.wei, e, const_cast<void*>(w.data))},
                                               {DNNL_ARG_DST, dnnl::memory(p.dst, e, y)}};
    if (first && bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(p.bias, e, const_cast<float*>(bias)));
    p.prim.execute(s, args);
  }
  s.wait();
}

}  // namespace slotlm::kernels::detail
