// SPDX-License-Identifier: MIT
// `slotlm bench`: llama-bench-style throughput table (prompt processing ppN, generation tgN) and,
// with --slot-steps, SLOT's cost on both paths side by side in one run.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>
#include <sys/resource.h>

#include "cli/common.h"
#include "core/error.h"
#include "core/threads.h"
#include "core/timer.h"
#include "kernels/matmul.h"

namespace slotlm::cli {

namespace {

struct BenchFlags {
  CommonFlags c;
  int64_t n_prompt = 512, n_gen = 64;
  int reps = 3;
  int batch = 1;
  bool json = false;
};

struct Stat {
  double median = 0, spread = 0;  // spread = (max - min) / 2
};

Stat stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  Stat s;
  const size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  s.spread = 0.5 * (v.back() - v.front());
  return s;
}

void bench(BenchFlags& f) {
  if (f.n_prompt < 2 || f.reps < 1 || f.n_gen < 0) fail("bench: need -p >= 2, -n >= 0, --reps >= 1");
  const slot::SlotOptions slot_base = slot_options(f.c);
  auto m = load_model(f.c);
  const auto& c = m->config();
  if (f.n_prompt + f.n_gen > c.max_position_embeddings)
    fail("bench: -p + -n exceeds the model's context (", c.max_position_embeddings, ")");
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> pick(0, int32_t(std::min<int64_t>(c.vocab_size, 32000)) - 1);
  std::vector<int32_t> prompt(size_t(f.n_prompt));
  for (auto& id : prompt) id = pick(rng);
  const int64_t d = m->d_model();

  if (f.batch < 1 || f.batch > 256) fail("--batch must be in [1, 256]");
  std::vector<double> pp, tg, tgb, pre_ms, fast_ms, ref_ms;
  std::vector<float> hidden(size_t(f.n_prompt * d)), h(static_cast<size_t>(d)), logits(size_t(c.vocab_size));
  model::Workspace ws;
  for (int r = 0; r < f.reps; ++r) {
    model::KvCache cache = m->new_cache(f.n_prompt + f.n_gen);
    Timer t;
    m->forward(prompt, cache, ws, hidden.data());
    m->lm_head(hidden.data() + (f.n_prompt - 1) * d, 1, logits.data());
    const double ms = t.ms();
    pp.push_back(1000.0 * double(f.n_prompt) / ms);
    pre_ms.push_back(ms);
    if (f.n_gen > 0) {
      model::KvCache gc = m->new_cache(f.n_gen);
      int32_t id = prompt[0];
      t.reset();
      for (int64_t i = 0; i < f.n_gen; ++i) {
        m->forward(std::span<const int32_t>(&id, 1), gc, ws, h.data());
        m->lm_head(h.data(), 1, logits.data());
        id = int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
      }
      tg.push_back(1000.0 * double(f.n_gen) / t.ms());
    }
    if (f.batch > 1 && f.n_gen > 0) {
      // B independent sequences decoding in lock step (Model::forward_batch): total tokens/s.
      const size_t B = size_t(f.batch);
      std::vector<model::KvCache> caches;
      std::vector<model::KvCache*> ptrs;
      std::vector<int32_t> ids(B);
      for (size_t b = 0; b < B; ++b) caches.push_back(m->new_cache(f.n_gen));
      for (auto& kv : caches) ptrs.push_back(&kv);
      for (size_t b = 0; b < B; ++b) ids[b] = prompt[b % prompt.size()];
      std::vector<float> hb(B * size_t(d)), lb(B * size_t(c.vocab_size));
      t.reset();
      for (int64_t i = 0; i < f.n_gen; ++i) {
        m->forward_batch(ids, ptrs, ws, hb.data());
        m->lm_head(hb.data(), int64_t(B), lb.data());
        for (size_t b = 0; b < B; ++b) {
          const float* row = lb.data() + b * size_t(c.vocab_size);
          ids[b] = int32_t(std::max_element(row, row + c.vocab_size) - row);
        }
      }
      tgb.push_back(1000.0 * double(f.n_gen * f.batch) / t.ms());
    }
    if (slot_base.steps > 0) {
      slot::SlotOptions o = slot_base;
      o.path = slot::Path::kFast;
      fast_ms.push_back(slot::optimize(*m, hidden.data(), prompt, o).ms);
    }
  }
  // The reference path after all fast runs: it frees the fast path's spare rows buffer (so the peak
  // RSS is that of one path), which the fast runs after the first reuse, as a server's do.
  for (int r = 0; r < f.reps && slot_base.steps > 0; ++r) {
    slot::SlotOptions o = slot_base;
    o.path = slot::Path::kReference;
    ref_ms.push_back(slot::optimize(*m, hidden.data(), prompt, o).ms);
  }
  const double size_gib = double(m->weights().store->total_bytes()) / (1 << 30);
  const int64_t n_params = int64_t(m->weights().store->total_bytes() / dtype_size(m->weights().dtype));
  nlohmann::json out;
  out["model"] = f.c.model_dir;
  out["arch"] = c.architecture;
  out["dtype"] = std::string(dtype_name(m->weights().dtype));
  out["size_gib"] = size_gib;
  out["params"] = n_params;
  out["threads"] = n_threads();
  out["reps"] = f.reps;
  const int terms = kernels::bf16_gemm_terms();
  const char* precision = kPrecisionNames[terms - 1];
  if (m->weights().dtype == DType::kBF16) out["precision"] = precision;
  const Stat spp = stats(pp);
  out["pp"] = {{"n", f.n_prompt}, {"tok_s", spp.median}, {"spread", spp.spread}};
  std::printf("| model | size | params | threads | test | t/s |\n|---|---|---|---|---|---|\n");
  std::printf("| %s %s | %.2f GiB | %.2f M | %d | pp%lld | %.2f ± %.2f |\n", c.architecture.c_str(),
              std::string(dtype_name(m->weights().dtype)).c_str(), size_gib, double(n_params) / 1e6, n_threads(),
              (long long)f.n_prompt, spp.median, spp.spread);
  if (!tg.empty()) {
    const Stat s = stats(tg);
    out["tg"] = {{"n", f.n_gen}, {"tok_s", s.median}, {"spread", s.spread}};
    std::printf("| %s %s | %.2f GiB | %.2f M | %d | tg%lld | %.2f ± %.2f |\n", c.architecture.c_str(),
                std::string(dtype_name(m->weights().dtype)).c_str(), size_gib, double(n_params) / 1e6, n_threads(),
                (long long)f.n_gen, s.median, s.spread);
  }
  if (!tgb.empty()) {
    const Stat s = stats(tgb);
    out["tg_batch"] = {{"n", f.n_gen}, {"batch", f.batch}, {"tok_s", s.median}, {"spread", s.spread}};
    std::printf("| %s %s | %.2f GiB | %.2f M | %d | tg%lld x%d | %.2f ± %.2f |\n", c.architecture.c_str(),
                std::string(dtype_name(m->weights().dtype)).c_str(), size_gib, double(n_params) / 1e6, n_threads(),
                (long long)f.n_gen, f.batch, s.median, s.spread);
  }
  if (!fast_ms.empty()) {
    const Stat sp = stats(pre_ms), sf = stats(fast_ms), sr = stats(ref_ms);
    out["slot"] = {{"steps", slot_base.steps}, {"prefill_ms", sp.median}, {"fast_ms", sf.median},
                   {"reference_ms", sr.median}, {"speedup", sr.median / sf.median},
                   {"fast_over_prefill", sf.median / sp.median}};
    std::printf("\nSLOT T=%d on a %lld-token prompt (median of %d): prefill %.1f ms | slot fast %.1f ms | "
                "slot reference %.1f ms | reference/fast %.2fx | fast/prefill %.2f\n",
                slot_base.steps, (long long)f.n_prompt, f.reps, sp.median, sf.median, sr.median,
                sr.median / sf.median, sf.median / sp.median);
  }
  // Peak resident memory of the whole run: mapped weights actually touched, KV caches, activations.
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  const double peak_mib = double(ru.ru_maxrss) / 1024.0;
  const double kv_mib = 2.0 * double(c.num_hidden_layers * (f.n_prompt + f.n_gen) * c.num_key_value_heads *
                                     c.head_dim) * sizeof(float) / (1024.0 * 1024.0);
  out["peak_rss_mib"] = peak_mib;
  out["kv_cache_mib"] = kv_mib;
  out["weights_residence"] = m->weights().store->residence();
  const model::Weights& w = m->weights();
  const double layout_mib = double(w.layout.size()) / (1024.0 * 1024.0);
  out["weights_layout"] = w.layout_name;
  out["weights_layout_mib"] = layout_mib;
  out["weights_layout_ms"] = w.layout_ms;
  // A huge-page copy cannot give pages back (MappedFile::drop_pages), so with a layout the
  // laid-out matrices are then held twice.
  const bool copy = std::string(w.store->residence()) != "mapped";
  std::string held = copy && layout_mib > 0 ? "the laid-out matrices held twice, " : "held once, ";
  held += w.store->residence();
  if (layout_mib > 0)
    held += "; " + std::to_string(int(layout_mib)) + " MiB of them laid out as " + w.layout_name + " at load in " +
            std::to_string(int(w.layout_ms)) + " ms" + (copy ? "" : ", in huge pages, their mapped pages given back");
  std::printf("\nmemory: peak RSS %.0f MiB (weights %.0f MiB, %s), KV cache %.1f MiB per %lld-token sequence\n",
              peak_mib, double(m->weights().store->total_bytes()) / (1024.0 * 1024.0), held.c_str(), kv_mib,
              (long long)(f.n_prompt + f.n_gen));
  if (m->weights().dtype == DType::kBF16 && kernels::gemm_backend() == kernels::GemmBackend::kOwn)
    std::printf("precision: f32 products throughout (SLOTLM_GEMM=own; --precision does not apply)\n");
  else if (m->weights().dtype == DType::kBF16)
    std::printf("precision: %s (bf16 weights: %s matmuls take activations as %d bf16 term%s)\n", precision,
                kernels::amx_enabled() ? "prefill and decode (AMX)" : "prefill", terms, terms == 1 ? "" : "s");
  if (f.json) std::printf("%s\n", out.dump().c_str());
}

}  // namespace

void register_bench(CLI::App& app) {
  auto f = std::make_shared<BenchFlags>();
  CLI::App* sub = app.add_subcommand("bench", "measure prompt processing, generation and SLOT speed");
  add_model_flags(*sub, f->c);
  add_slot_flags(*sub, f->c);
  sub->add_option("-p,--n-prompt", f->n_prompt, "prompt tokens (ppN)")->capture_default_str();
  sub->add_option("-n,--n-gen", f->n_gen, "generated tokens (tgN)")->capture_default_str();
  sub->add_option("-r,--reps", f->reps, "repetitions")->capture_default_str();
  sub->add_option("-b,--batch", f->batch, "also decode this many sequences in lock step (total tok/s)")->capture_default_str();
  sub->add_flag("--json", f->json, "also print the results as one JSON object");
  sub->callback([f] { bench(*f); });
}

}  // namespace slotlm::cli
