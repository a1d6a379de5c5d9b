// SPDX-License-Identifier: MIT
#include "eval/harness.h"

#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <span>

#include "core/error.h"
#include "core/log.h"
#include "core/timer.h"
#include "eval/scoring.h"
#include "generate/decoder.h"
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
          {"delta_norm", r.delta_norm}, {"ms", ms}, {"plan", r.plan}, {"batch", batch},
          {"diverged_step", r.diverged_step}};
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

// One (sample, mode) pair to run.
struct Job {
  const Sample* sample;
  const Mode* mode;
};

// A Job decoding in the Decoder: its prompt, and its share of the decode steps' wall time (each
// step's time split equally between the sequences in it).
struct LiveJob {
  Job job;
  std::vector<int32_t> prompt;
  double decode_ms = 0;
};

// Runs `jobs` through one gen::Decoder (continuous batching): up to `opt.batch` decode at once;
// between two steps, as many jobs join as have finished. Jobs that join together run SLOT in one
// optimize_batch call (one delta per prompt). Each job's record is appended as it finishes.
class Runner {
 public:
  Runner(const model::Model& m, const tok::Tokenizer& tk, const EvalOptions& opt, RunLog& log, Progress& progress)
      : m_(m), tk_(tk), opt_(opt), log_(log), progress_(progress), dec_(std::make_unique<gen::Decoder>(m)) {}

  void run(const std::vector<Job>& jobs) {
    size_t next = 0;
    while (next < jobs.size() || !live_.empty()) {
      std::vector<LiveJob> group;
      while (next < jobs.size() && live_.size() + group.size() < size_t(opt_.batch))
        if (auto j = prepare(jobs[next++])) group.push_back(std::move(*j));
      if (!group.empty()) admit(group);
      record_finished();
      if (live_.empty()) continue;
      Timer t;
      try {
        dec_->step();
      } catch (const Error& e) {  // the sequences in the decoder fail; the run goes on
        for (auto& [id, lj] : live_) emit_error(lj.job, e.what());
        live_.clear();
        dec_ = std::make_unique<gen::Decoder>(m_);
        continue;
      }
      const double share = t.ms() / double(live_.size());
      for (auto& [id, lj] : live_) lj.decode_ms += share;
      record_finished();
    }
  }

 private:
  void emit(nlohmann::json rec) {
    progress_.tick(status_text(rec));
    log_.append(std::move(rec));
  }
  void emit_error(const Job& j, const std::string& what) {
    nlohmann::json rec = base_record(*j.sample, *j.mode);
    add_error(rec, opt_.task, *j.sample, what);
    emit(std::move(rec));
  }
  // The job's prompt, or its error record and nothing when it cannot run.
  std::optional<LiveJob> prepare(const Job& j) {
    try {
      std::vector<int32_t> prompt = build_prompt(tk_, opt_.chat_template, opt_.system_prompt, j.sample->question);
      const int64_t n = int64_t(prompt.size()), max_ctx = m_.config().max_position_embeddings;
      if (n > max_ctx)
        fail("the prompt has ", n, " tokens, more than the model's context (max_position_embeddings = ", max_ctx, ")");
      return LiveJob{j, std::move(prompt), 0.0};
    } catch (const Error& e) {
      emit_error(j, e.what());
      return std::nullopt;
    }
  }
  // Adds `group` to the decoder; when that fails, each job on its own, so only a failing one fails.
  void admit(std::vector<LiveJob>& group) {
    auto add = [&](std::span<LiveJob> g) {
      std::vector<gen::BatchItem> items;
      for (const LiveJob& lj : g) {
        gen::GenerateOptions go = opt_.gen;
        go.slot = lj.job.mode->slot;
        go.delta.reset();
        items.push_back({lj.prompt, go, {}});
      }
      const std::vector<int64_t> ids = dec_->add(items);
      for (size_t i = 0; i < ids.size(); ++i) live_.emplace(ids[i], std::move(g[i]));
    };
    try {
      add(group);
    } catch (const Error& e) {
      if (group.size() == 1) {
        emit_error(group[0].job, e.what());
        return;
      }
      for (LiveJob& lj : group) {
        try {
          add(std::span<LiveJob>(&lj, 1));
        } catch (const Error& e1) {
          emit_error(lj.job, e1.what());
        }
      }
    }
  }
  void record_finished() {
    for (gen::Finished& f : dec_->take_finished()) {
      const auto it = live_.find(f.id);
      const LiveJob& lj = it->second;
      const gen::GenerateResult& r = f.result;
      nlohmann::json rec = base_record(*lj.job.sample, *lj.job.mode);
      add_completion(rec, opt_.task, *lj.job.sample, completion_text(tk_, r.tokens), gen::finish_reason_name(r.finish));
      // SLOT's wall time is shared by the prompts optimised together.
      const double slot_ms = r.timings.slot_ms / double(std::max(1, r.slot_batch));
      rec["slot"] = r.slot && r.slot->ran ? slot_json(*r.slot, lj.job.mode->slot, slot_ms, r.slot_batch) : nlohmann::json();
      rec["timings"] = timings_json(r.timings, r.timings.prompt_ms, slot_ms, r.timings.prompt_ms + slot_ms + lj.decode_ms);
      live_.erase(it);
      emit(std::move(rec));
    }
  }

  const model::Model& m_;
  const tok::Tokenizer& tk_;
  const EvalOptions& opt_;
  RunLog& log_;
  Progress& progress_;
  std::unique_ptr<gen::Decoder> dec_;
  std::map<int64_t, LiveJob> live_;  // by decoder id
};

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
             " samples decode at once, in one pass over the weights per step; as one finishes the next "
             "joins (continuous batching); samples that join together run SLOT in one optimize_batch call "
             "(one delta per prompt)");
  Progress progress(pending, opt.progress);
  // In chunks of B samples, each chunk's baseline then its SLOT mode, so a cut-off run holds pairs.
  std::vector<Job> jobs;
  const size_t B = size_t(opt.batch);
  for (size_t start = 0; start < opt.samples.size(); start += B) {
    const size_t end = std::min(opt.samples.size(), start + B);
    for (const Mode& md : modes)
      for (size_t i = start; i < end; ++i)
        if (!log.find(opt.samples[i].id, md.key)) jobs.push_back({&opt.samples[i], &md});
  }
  Runner(m, tk, opt, log, progress).run(jobs);
}

}  // namespace slotlm::eval
