// SPDX-License-Identifier: MIT
#include "eval/harness.h"

#include <unistd.h>

#include <cstdio>

#include "core/error.h"
#include "core/log.h"
#include "core/timer.h"
#include "eval/scoring.h"
#include "tokenizer/chat_template.h"

namespace slotlm::eval {

namespace {

constexpr int kBarWidth = 28;

// Shortest round-trip text of a double ("0.1", "1e-08"), as JSON writes it.
std::string num_text(double v) { return nlohmann::json(v).dump(); }

std::string clock_text(double ms) {
  const int64_t s = int64_t(ms / 1000.0 + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60), (long long)(s % 60));
  else std::snprintf(buf, sizeof buf, "%lld:%02lld", (long long)(s / 60), (long long)(s % 60));
  return buf;
}

// Progress on stderr: a redrawn bar on a terminal, one line per finished item otherwise (logs, ctest).
class Progress {
 public:
  Progress(size_t total, bool enabled) : total_(total), enabled_(enabled && total > 0), tty_(isatty(2) != 0) {}
  void tick(const std::string& what) {
    ++done_;
    if (!enabled_) return;
    const double el = timer_.ms();
    const double eta = el / double(done_) * double(total_ - done_);
    const int fill = int(double(kBarWidth) * double(done_) / double(total_));
    const std::string bar = std::string(size_t(fill), '#') + std::string(size_t(kBarWidth - fill), '.');
    std::fprintf(stderr, "%s[%s] %zu/%zu %3d%%  elapsed %s  ETA %s  %s%s", tty_ ? "\r\033[K" : "", bar.c_str(),
                 done_, total_, int(100.0 * double(done_) / double(total_)), clock_text(el).c_str(),
                 clock_text(eta).c_str(), what.c_str(), tty_ ? "" : "\n");
    if (tty_ && done_ == total_) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  }

 private:
  size_t total_, done_ = 0;
  bool enabled_, tty_;
  Timer timer_;
};

nlohmann::json opt_json(const std::optional<std::string>& s) { return s ? nlohmann::json(*s) : nlohmann::json(); }

nlohmann::json base_record(const Sample& s, const Mode& mode) {
  return {{"id", s.id}, {"line", s.line}, {"mode", mode.name}, {"mode_key", mode.key}, {"question", s.question},
          {"gold", s.gold}};
}

// Fills the completion, its scores and the finish reason.
void add_completion(nlohmann::json& rec, Task task, const Sample& s, const std::string& completion,
                    const char* finish) {
  const Score sc = score_completion(task, completion, s.gold);
  rec["completion"] = completion;
  rec["finish"] = finish;
  rec["extracted"] = opt_json(sc.extracted);
  rec["correct"] = sc.correct;
  rec["format_ok"] = sc.format_ok;
  rec["strict"] = opt_json(sc.strict);
  rec["strict_correct"] = sc.strict_correct;
  rec["flexible"] = opt_json(sc.flexible);
  rec["flexible_correct"] = sc.flexible_correct;
}

void add_error(nlohmann::json& rec, Task task, const Sample& s, const std::string& what) {
  add_completion(rec, task, s, "", "error");
  rec["error"] = what;
  rec["slot"] = nullptr;
  rec["timings"] = nullptr;
}

nlohmann::json slot_json(const slot::SlotResult& r, const slot::SlotOptions& o, double ms, int batch) {
  return {{"steps", o.steps}, {"lr", o.adam.lr}, {"loss", r.loss}, {"loss_final", r.loss_final},
          {"delta_norm", r.delta_norm}, {"ms", ms}, {"plan", r.plan}, {"batch", batch}};
}

nlohmann::json timings_json(const gen::Timings& t, double prompt_ms, double slot_ms, double wall_ms) {
  return {{"prompt_ms", prompt_ms}, {"slot_ms", slot_ms}, {"gen_ms", t.gen_ms}, {"n_prompt", t.n_prompt},
          {"n_gen", t.n_gen}, {"wall_ms", wall_ms}};
}

std::string status_text(const nlohmann::json& rec) {
  std::string s = str_cat(rec["mode"].get<std::string>(), " ", rec["id"].get<std::string>(), ": ");
  if (rec.contains("error")) return s + "error";
  return s + (rec["correct"].get<bool>() ? "correct" : "wrong");
}

std::string completion_text(const tok::Tokenizer& tk, const std::vector<int32_t>& ids) {
  return tk.decode(ids, /*skip_special=*/true);
}

// One sample, one mode, through the one decode loop (SLOT, if any, runs inside gen::generate).
nlohmann::json run_one(const model::Model& m, const tok::Tokenizer& tk, const EvalOptions& opt,
                       const Sample& s, const Mode& mode) {
  Timer wall;
  nlohmann::json rec = base_record(s, mode);
  try {
    const std::vector<int32_t> prompt = build_prompt(tk, opt.chat_template, opt.system_prompt, s.question);
    gen::GenerateOptions go = opt.gen;
    go.slot = mode.slot;
    go.delta.reset();
    const gen::GenerateResult r = gen::generate(m, prompt, go);
    add_completion(rec, opt.task, s, completion_text(tk, r.tokens), gen::finish_reason_name(r.finish));
    rec["slot"] = r.slot && r.slot->ran ? slot_json(*r.slot, mode.slot, r.slot->ms, 1) : nlohmann::json();
    rec["timings"] = timings_json(r.timings, r.timings.prompt_ms, r.timings.slot_ms, wall.ms());
  } catch (const Error& e) {
    add_error(rec, opt.task, s, e.what());
  }
  return rec;
}

// Several samples at once through gen::generate_batch: each prompt prefilled on its own, SLOT for
// all of them in one optimize_batch call (one delta per prompt), then lock-step batched decode.
std::vector<nlohmann::json> run_batch(const model::Model& m, const tok::Tokenizer& tk, const EvalOptions& opt,
                                      const std::vector<const Sample*>& items, const Mode& mode) {
  const size_t k = items.size();
  const int64_t max_ctx = m.config().max_position_embeddings;
  std::vector<nlohmann::json> recs(k);
  std::vector<std::vector<int32_t>> prompts(k);
  std::vector<size_t> live;
  for (size_t i = 0; i < k; ++i) {
    recs[i] = base_record(*items[i], mode);
    try {
      prompts[i] = build_prompt(tk, opt.chat_template, opt.system_prompt, items[i]->question);
      const int64_t n = int64_t(prompts[i].size());
      if (n > max_ctx)
        fail("the prompt has ", n, " tokens, more than the model's context (max_position_embeddings = ", max_ctx, ")");
      live.push_back(i);
    } catch (const Error& e) {
      add_error(recs[i], opt.task, *items[i], e.what());
    }
  }
  if (live.empty()) return recs;
  std::vector<gen::BatchItem> batch;
  for (size_t i : live) {
    gen::GenerateOptions go = opt.gen;
    go.slot = mode.slot;
    go.delta.reset();
    batch.push_back({prompts[i], go, {}});
  }
  Timer wall;
  try {
    const std::vector<gen::GenerateResult> res = gen::generate_batch(m, batch);
    // The batch's wall time, shared equally by its samples.
    const double share_ms = wall.ms() / double(live.size());
    for (size_t j = 0; j < live.size(); ++j) {
      const size_t i = live[j];
      const gen::GenerateResult& r = res[j];
      add_completion(recs[i], opt.task, *items[i], completion_text(tk, r.tokens), gen::finish_reason_name(r.finish));
      const double slot_ms = r.slot ? r.slot->ms / double(live.size()) : 0.0;
      recs[i]["slot"] = r.slot && r.slot->ran ? slot_json(*r.slot, mode.slot, slot_ms, int(live.size())) : nlohmann::json();
      recs[i]["timings"] = timings_json(r.timings, r.timings.prompt_ms, slot_ms, share_ms);
    }
  } catch (const Error& e) {
    for (size_t i : live) add_error(recs[i], opt.task, *items[i], e.what());
  }
  return recs;
}

}  // namespace

Mode baseline_mode() { return {"baseline", "baseline", slot::SlotOptions{}}; }

Mode slot_mode(const slot::SlotOptions& o) {
  const auto& a = o.adam;
  std::string key = str_cat("slot:T=", o.steps, ",lr=", num_text(a.lr), ",wd=", num_text(a.weight_decay),
                            ",eps=", num_text(a.eps), ",betas=", num_text(a.beta1), "/", num_text(a.beta2));
  if (o.path == slot::Path::kReference) key += ",path=reference";
  return {"slot", key, o};
}

std::vector<int32_t> build_prompt(const tok::Tokenizer& tk, const std::string& chat_template,
                                  const std::string& system_prompt, const std::string& question) {
  std::vector<tok::ChatMessage> msgs;
  if (!system_prompt.empty()) msgs.push_back({"system", system_prompt});
  msgs.push_back({"user", question});
  tok::ChatTemplateOptions to;
  to.add_generation_prompt = true;
  to.bos_token = tk.bos_token();
  to.eos_token = tk.eos_token();
  tok::EncodeOptions eo;
  eo.add_special = false;   // the template holds the special tokens already
  eo.parse_special = true;  // and they are written as text in it
  return tk.encode(tok::render_chat_template(chat_template, msgs, to), eo);
}

void run_eval(const model::Model& m, const tok::Tokenizer& tk, const EvalOptions& opt, RunLog& log) {
  if (opt.batch < 1) fail("--batch must be >= 1");
  std::vector<Mode> modes;
  if (opt.run_baseline) modes.push_back(baseline_mode());
  if (opt.run_slot) {
    if (opt.gen.slot.steps <= 0) fail("the SLOT mode needs --slot-steps > 0");
    modes.push_back(slot_mode(opt.gen.slot));
  }
  size_t pending = 0, done = 0;
  for (const Sample& s : opt.samples)
    for (const Mode& md : modes) (log.find(s.id, md.key) ? done : pending) += 1;
  if (done > 0)
    log_info("slotlm eval: resuming: ", done, " of ", done + pending, " (sample, mode) results already in ", log.path());
  if (opt.batch > 1)
    log_info("slotlm eval: --batch ", opt.batch, ": up to ", opt.batch,
             " samples at once: SLOT for all of them in one optimize_batch call (one delta per prompt), "
             "then lock-step batched decode");
  Progress progress(pending, opt.progress);
  const size_t B = size_t(opt.batch);
  for (size_t start = 0; start < opt.samples.size(); start += B) {
    const size_t end = std::min(opt.samples.size(), start + B);
    for (const Mode& md : modes) {
      std::vector<const Sample*> todo;
      for (size_t i = start; i < end; ++i)
        if (!log.find(opt.samples[i].id, md.key)) todo.push_back(&opt.samples[i]);
      if (todo.empty()) continue;
      if (todo.size() > 1) {
        for (auto& rec : run_batch(m, tk, opt, todo, md)) {
          progress.tick(status_text(rec));
          log.append(std::move(rec));
        }
        continue;
      }
      for (const Sample* s : todo) {
        nlohmann::json rec = run_one(m, tk, opt, *s, md);
        progress.tick(status_text(rec));
        log.append(std::move(rec));
      }
    }
  }
}

}  // namespace slotlm::eval
