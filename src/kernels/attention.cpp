// SPDX-License-Identifier: MIT
#include "kernels/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <xmmintrin.h>
#include <span>
#include <vector>

#include "core/aligned.h"
#include "kernels/dispatch.h"
#include "kernels/matmul.h"
#include "kernels/isa/attention_blocked.h"

namespace slotlm::kernels {

float* detail::block_scratch(size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n + 16) buf.resize(n + 16);
  const uintptr_t a = reinterpret_cast<uintptr_t>(buf.data());
  return buf.data() + ((64 - a % 64) % 64) / sizeof(float);
}

namespace {

// Parallel only when there is enough work (multiply-adds of the scores) to pay for waking the
// threads.
constexpr int64_t kMinThreadWork = int64_t(1) << 15;
int64_t score_macs(int64_t n_tok, int64_t n_past, const AttentionShape& s) {
  return n_tok * s.n_head * (n_past + n_tok) * s.d_head;
}
bool worth_threads(int64_t n_tok, int64_t n_past, const AttentionShape& s) {
  return score_macs(n_tok, n_past, s) >= kMinThreadWork;
}

// Work items = (KV head g, block of kBlockRows consecutive query rows of g); see
// isa/attention_blocked.h. Later blocks see more keys, so items are handed out largest first and
// dynamically, which keeps threads balanced on a causal prefill.
void attention_blocked(void (*run_block)(const detail::AttentionBlock&), const float* q,
                       int64_t n_tok, int64_t n_past, const float* k, const float* v,
                       const AttentionShape& s, float* out, const uint16_t* kp = nullptr,
                       const uint16_t* vp = nullptr) {
  using detail::AttentionBlock;
  const int64_t n_rows = n_tok * (s.n_head / s.n_kv_head);
  const int64_t n_blocks = (n_rows + detail::kBlockRows - 1) / detail::kBlockRows;
  const int64_t n_items = n_blocks * s.n_kv_head;
#pragma omp parallel for schedule(dynamic, 1) if (worth_threads(n_tok, n_past, s))
  for (int64_t item = 0; item < n_items; ++item) {
    const int64_t blk = n_blocks - 1 - item / s.n_kv_head;
    AttentionBlock b{q, k, v, out};
    b.n_past = n_past;
    b.n_head = s.n_head;
    b.n_kv_head = s.n_kv_head;
    b.d_head = s.d_head;
    b.g = item % s.n_kv_head;
    b.row0 = blk * detail::kBlockRows;
    b.n_rows = std::min(detail::kBlockRows, n_rows - b.row0);
    b.kp = kp;
    b.vp = vp;
    b.kv_blocks = (n_past + n_tok + 31) / 32;
    run_block(b);
  }
}

// Whether attention() takes the rowwise path for n_tok query tokens. The blocked path needs >= 16
// query rows per KV head (decode and tiny prompts would be mostly padding). AVX2 keeps the rowwise
// path: its SIMD gemv, exp and mix_rows beat the portable blocked code compiled for AVX2 (~20 vs
// ~27 ms single-threaded for 512 Qwen2.5-0.5B tokens).
bool takes_rowwise(int64_t n_tok, const AttentionShape& s) {
  return n_tok * (s.n_head / s.n_kv_head) < 16 || active_isa() == Isa::kAvx2;
}

}  // namespace

void attention(const float* q, int64_t n_tok, int64_t n_past, const float* k, const float* v,
               const AttentionShape& s, float* out) {
  const Isa isa = active_isa();
  if (takes_rowwise(n_tok, s)) {
    attention_rowwise(q, n_tok, n_past, k, v, s, out);
    return;
  }
  // bf16 products (`fast`) on AMX tiles, else on AVX512-BF16 dot products (Zen 5, 0.5B shape, 512
  // tokens: 0.9 vs 1.7 ms per call); K and V are laid out once per call for every query block.
  using Pack = void (*)(const float*, const float*, int64_t, int64_t, int64_t, uint16_t*, uint16_t*);
  Pack pack = nullptr;
  void (*run_block)(const detail::AttentionBlock&) = nullptr;
  if (s.bf16_products && isa == Isa::kAvx512 && s.d_head % 32 == 0) {
    if (amx_enabled() && detail::amx_attention_available()) {
      pack = detail::amx_pack_kv;
      run_block = detail::attention_block_amx;
    } else if (bf16_dot_enabled()) {  // `fast` without AMX (SLOTLM_BF16_DOT=0 keeps the f32 path)
      pack = detail::dot_pack_kv;
      run_block = detail::attention_block_dot;
    }
  }
  if (pack) {
    thread_local AlignedVector<uint16_t> kp, vp;
    const size_t n = size_t(s.n_kv_head * ((n_past + n_tok + 31) / 32 * 32) * s.d_head);
    if (kp.size() < n) {
      kp.resize(n);
      vp.resize(n);
    }
    pack(k, v, n_past + n_tok, s.n_kv_head, s.d_head, kp.data(), vp.data());
    attention_blocked(run_block, q, n_tok, n_past, k, v, s, out, kp.data(), vp.data());
    return;
  }
  attention_blocked(isa == Isa::kAvx512 ? detail::attention_block_avx512
                                        : detail::attention_block_portable,
                    q, n_tok, n_past, k, v, s, out);
}

// Keys per work item of attention_rowwise. A fixed size, so the results do not depend on the
// number of threads.
constexpr int64_t kKeyBlock = 128;
// Bytes of key-block partials held at once (see attention_rowwise_batch).
constexpr int64_t kMaxPartialBytes = int64_t(8) << 20;

// Work item = (query token i, block of up to kKeyBlock consecutive keys). Each item reads whole K
// and V rows (all KV heads) of its keys, a contiguous stretch of the cache: splitting by KV head
// instead had each thread read half of every row, which streamed at ~22 GB/s on 2 threads against
// ~44 for contiguous rows (bench/RESULTS.md). For each KV head g, the `group` query heads of g are
// adjacent in q, so
//   scores [group, keys] = q[i, g*group : (g+1)*group] . K_g^T   (one gemv, each key row loaded
//                                                                  once for all heads of the group)
//   p = exp((scores - blockmax) / sqrt(d)),  o = p V_g            (one mix_rows)
// with the block's max m and sum l kept per query head. Then per token and head the blocks are
// merged in order: M = max m_b, f_b = exp((m_b - M) / sqrt(d)), out = (sum f_b o_b) * (1 / sum f_b
// l_b). Same maths as HF eager attention (softmax with max subtraction, f32 sums); with one block
// (up to kKeyBlock keys) every f_b is 1 and the result is that of one softmax over all keys.
void attention_rowwise_batch(std::span<const AttentionSeq> seqs, const AttentionShape& s) {
  const int64_t group = s.n_head / s.n_kv_head, H = s.n_head;
  const int64_t d = s.d_head, kv_stride = s.n_kv_head * d;
  const float scale = 1.f / std::sqrt(float(d));
  const KernelTable& tab = kernel_table();
  // Rows = (sequence, token) pairs in order; row r is token tok[r] of sequence seq[r], and its items
  // are first[r] .. first[r + 1] - 1 (a token at position p has p + 1 keys).
  thread_local std::vector<int64_t> first, seq, tok;
  first.assign(1, 0);
  seq.clear();
  tok.clear();
  int64_t work = 0;
  for (size_t j = 0; j < seqs.size(); ++j) {
    work += score_macs(seqs[j].n_tok, seqs[j].n_past, s);
    for (int64_t i = 0; i < seqs[j].n_tok; ++i) {
      first.push_back(first.back() + (seqs[j].n_past + i + kKeyBlock) / kKeyBlock);
      seq.push_back(int64_t(j));
      tok.push_back(i);
    }
  }
  const int64_t n_rows = int64_t(seq.size());
  // Per item and query head: o [d], then m and l. Kept across calls (no allocation per token). The
  // rows run in groups whose items fit kMaxPartialBytes (at least one row per group), so a long
  // prompt on the rowwise path (AVX2 prefill) does not hold every key block's partials at once.
  const int64_t per_item = H * (d + 2);
  const int64_t cap = std::max<int64_t>(1, kMaxPartialBytes / int64_t(sizeof(float)) / per_item);
  thread_local AlignedVector<float> part;
  int64_t ctx_items = 0;  // items of every row at its cache's capacity
  for (int64_t r = 0; r < n_rows; ++r) {
    const AttentionSeq& a = seqs[size_t(seq[size_t(r)])];
    ctx_items += (std::max(a.n_ctx, a.n_past + tok[size_t(r)] + 1) + kKeyBlock - 1) / kKeyBlock;
  }
  if (part.size() < size_t(std::min(ctx_items, cap) * per_item)) part.resize(size_t(std::min(ctx_items, cap) * per_item));
  // Each thread's scores of one key block, in one buffer of the calling thread: a thread's own
  // buffer would be allocated on the step where the context first grows past kMinThreadWork.
  const size_t per_thread = size_t(group * kKeyBlock);
  thread_local AlignedVector<float> scores;
  if (scores.size() < per_thread * size_t(omp_get_max_threads())) scores.resize(per_thread * size_t(omp_get_max_threads()));
  float* const scores0 = scores.data();  // the region's threads must not name the thread_local
  const int64_t *fp = first.data(), *sp = seq.data(), *tp = tok.data();
  for (int64_t r0 = 0, r1; r0 < n_rows; r0 = r1) {
    r1 = r0 + 1;
    while (r1 < n_rows && fp[r1 + 1] - fp[r0] <= cap) ++r1;
    const int64_t item0 = fp[r0], n_items = fp[r1] - item0;
    if (part.size() < size_t(n_items * per_item)) part.resize(size_t(n_items * per_item));
    float* pp = part.data();
#pragma omp parallel if (work >= kMinThreadWork)
    {
      float* sc = scores0 + per_thread * size_t(omp_get_thread_num());
#pragma omp for schedule(dynamic, 1)
      for (int64_t it = 0; it < n_items; ++it) {
        const int64_t item = item0 + it;
        const int64_t r = std::upper_bound(fp + r0, fp + r1 + 1, item) - fp - 1;
        const AttentionSeq& a = seqs[size_t(sp[r])];
        const int64_t i = tp[r];
        const int64_t j0 = (item - fp[r]) * kKeyBlock, nk = std::min(kKeyBlock, a.n_past + i + 1 - j0);
        float* o = pp + it * per_item;  // [H, d]
        float* ml = o + H * d;          // m [H], l [H]
        // The block's K and V rows requested into L2 up front: the gemv's own prefetch runs only a
        // few keys ahead at k = d_head. 8 sequences of 0.5B at 2048 keys, one process, alternating:
        // 44.7-57.8 vs 47.3-59.6 ms per step in four runs (K alone: no gain; 512 keys: equal).
        const char* kb = reinterpret_cast<const char*>(a.k + j0 * kv_stride);
        const char* vb = reinterpret_cast<const char*>(a.v + j0 * kv_stride);
        for (int64_t off = 0; off < nk * kv_stride * int64_t(sizeof(float)); off += 64) {
          _mm_prefetch(kb + off, _MM_HINT_T1);
          _mm_prefetch(vb + off, _MM_HINT_T1);
        }
        for (int64_t g = 0; g < s.n_kv_head; ++g) {
          const float* qi = a.q + (i * H + g * group) * d;  // [group, d]
          tab.gemv_f32(qi, group, a.k + j0 * kv_stride + g * d, nk, d, kv_stride, nullptr, sc, nk);
          for (int64_t t = 0; t < group; ++t) {
            float* row = sc + t * nk;
            const float mx = tab.max_f32(row, nk);
            ml[g * group + t] = mx;
            ml[H + g * group + t] = tab.exp_sum(row, nk, mx, scale, row);
          }
          tab.mix_rows(sc, group, nk, a.v + j0 * kv_stride + g * d, nk, kv_stride, d, o + g * group * d, d);
        }
      }
#pragma omp for schedule(static)
      for (int64_t rh = r0 * H; rh < r1 * H; ++rh) {
        const int64_t r = rh / H, h = rh % H;
        const float* base = pp + (fp[r] - item0) * per_item;
        const int64_t nb = fp[r + 1] - fp[r];
        float mx = base[H * d + h];
        for (int64_t b = 1; b < nb; ++b) mx = std::max(mx, base[b * per_item + H * d + h]);
        float* oi = seqs[size_t(sp[r])].out + (tp[r] * H + h) * d;
        std::fill_n(oi, d, 0.f);
        float sum = 0.f;
        for (int64_t b = 0; b < nb; ++b) {
          const float* ob = base + b * per_item;
          const float f = std::exp((ob[H * d + h] - mx) * scale);
          sum += ob[H * d + H + h] * f;
          tab.axpy_f32(f, ob + h * d, d, oi);
        }
        const float inv_sum = 1.f / sum;
        for (int64_t c = 0; c < d; ++c) oi[c] *= inv_sum;
      }
    }
  }
}

void attention_rowwise(const float* q, int64_t n_tok, int64_t n_past, const float* k,
                       const float* v, const AttentionShape& s, float* out) {
  const AttentionSeq one{q, n_tok, n_past, k, v, out};
  attention_rowwise_batch(std::span<const AttentionSeq>(&one, 1), s);
}

void attention_batch(std::span<const AttentionSeq> seqs, const AttentionShape& s) {
  bool all_rowwise = true;
  for (const AttentionSeq& a : seqs) all_rowwise = all_rowwise && takes_rowwise(a.n_tok, s);
  if (all_rowwise) {
    attention_rowwise_batch(seqs, s);
    return;
  }
  for (const AttentionSeq& a : seqs) attention(a.q, a.n_tok, a.n_past, a.k, a.v, s, a.out);
}

}  // namespace slotlm::kernels
