// SPDX-License-Identifier: MIT
// `slotlm eval gsm8k|aime24`: benchmark runs with the reference protocol, baseline vs SLOT
// (--compare), a resumable JSONL log and a summary table on stdout (logic in src/eval/).
#include <cstdio>
#include <filesystem>

#include "cli/common.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mapped_file.h"
#include "eval/dataset.h"
#include "eval/harness.h"
#include "eval/report.h"
#include "eval/run_log.h"
#include "eval/scoring.h"
#include "tokenizer/chat_template.h"

namespace slotlm::cli {

namespace {

namespace fs = std::filesystem;

// The SLOT reference's GSM8K system prompt, looked up beside the data file
// (../shared/data/gsm8k/slot_system_prompt.txt next to test.jsonl); never copied into the repo.
constexpr const char* kGsm8kSystemFile = "slot_system_prompt.txt";
// Steps of the SLOT side of --compare when --slot-steps is not given (the published GSM8K run).
constexpr int kCompareDefaultSteps = 5;
// Chat template used when the model has none and --chat-template is not given.
constexpr const char* kFallbackTemplate = "chatml";

struct EvalFlags {
  CommonFlags c;
  eval::Task task = eval::Task::kGsm8k;
  std::string data, out, system_file, chat_template, tokenizer_dir;
  size_t limit = 0;
  uint64_t seed = 0;
  int batch = 1;
  bool compare = false, strict = false, no_system = false, quiet = false, json = false;
  CLI::Option* o_steps = nullptr;
};

std::string canonical(const std::string& p) {
  std::error_code ec;
  const fs::path c = fs::canonical(p, ec);
  return ec ? p : c.string();
}

std::string system_prompt(const EvalFlags& f, std::string* source) {
  if (f.no_system) {
    *source = "none";
    return "";
  }
  if (!f.system_file.empty()) {
    if (!fs::exists(f.system_file)) fail("--system-file: ", f.system_file, " does not exist");
    *source = canonical(f.system_file);
    return read_file(f.system_file);
  }
  if (f.task == eval::Task::kAime24) {
    *source = "builtin:qwen25-math-cot";
    return std::string(eval::kAimeSystemPrompt);
  }
  const fs::path beside = fs::path(f.data).parent_path() / kGsm8kSystemFile;
  if (!fs::exists(beside))
    fail("the GSM8K system prompt ", beside.string(), " is absent (it is read beside the data file, as in "
         "../shared/data/gsm8k/); pass --system-file FILE (or --no-system)");
  *source = canonical(beside.string());
  return read_file(beside.string());
}

void run(EvalFlags& f) {
  const char* name = eval::task_name(f.task);
  if (f.batch < 1) fail("--batch must be >= 1");
  if (f.c.n_predict < 1) fail("-n must be >= 1");
  if (f.compare && !f.o_steps->count()) {
    f.c.slot_steps = kCompareDefaultSteps;
    log_info("slotlm eval: --compare without --slot-steps: SLOT side uses T = ", kCompareDefaultSteps);
  }
  if (f.compare && f.c.slot_steps <= 0) fail("--compare needs --slot-steps > 0");
  if (!f.c.slot_load.empty()) fail("--slot-load is not supported by eval (each prompt gets its own delta)");
  const slot::SlotOptions slot_opt = slot_options(f.c);

  eval::Dataset ds = eval::load_dataset(f.data, f.task, f.strict);
  for (const auto& p : ds.problems) log_info("slotlm eval: skipped ", p);
  const size_t n_all = ds.samples.size();
  std::vector<eval::Sample> selected;
  for (size_t i : eval::sample_indices(n_all, f.limit == 0 ? n_all : f.limit, f.seed))
    selected.push_back(ds.samples[i]);

  std::string sys_source;
  const std::string sys = system_prompt(f, &sys_source);

  auto m = load_model(f.c);
  const std::string tok_dir = f.tokenizer_dir.empty() ? f.c.model_dir : f.tokenizer_dir;
  auto tk = load_tokenizer(tok_dir, true);
  if (tk->n_vocab() > m->n_vocab())
    fail(tok_dir, ": the tokenizer has ", tk->n_vocab(), " tokens, more than the model's vocab_size ", m->n_vocab());
  std::string tmpl_name = "model";
  std::string tmpl = tk->chat_template();
  if (!f.chat_template.empty()) {
    tmpl_name = "builtin:" + f.chat_template;
    tmpl = tok::builtin_chat_template(f.chat_template);
  } else if (tmpl.empty()) {
    tmpl_name = std::string("builtin:") + kFallbackTemplate;
    tmpl = tok::builtin_chat_template(kFallbackTemplate);
    log_info("slotlm eval: ", tok_dir, " has no chat template; using the built-in '", kFallbackTemplate,
             "' (choose another with --chat-template)");
  }

  eval::EvalOptions opt;
  opt.task = f.task;
  opt.samples = selected;
  opt.system_prompt = sys;
  opt.chat_template = tmpl;
  opt.gen.n_predict = f.c.n_predict;
  // Greedy as the reference (HF generate, do_sample=False); HF still applies generation_config's
  // repetition_penalty, so we do too.
  opt.gen.sampling = gen::SamplerParams{};
  const auto& g = m->generation_config();
  if (g.has_repetition_penalty) opt.gen.sampling.repeat_penalty = g.repetition_penalty;
  opt.gen.slot = slot_opt;
  opt.run_baseline = f.compare || slot_opt.steps == 0;
  opt.run_slot = f.compare || slot_opt.steps > 0;
  opt.batch = f.batch;
  opt.progress = !f.quiet;

  // What a log must share with this run to be resumed (SLOT settings are part of each record's
  // mode key instead, so one baseline can serve several SLOT configurations).
  const nlohmann::json protocol = {
      {"format", 1},
      {"task", name},
      {"model", canonical(f.c.model_dir)},
      {"model_config", eval::fnv1a_hex(read_file(f.c.model_dir + "/config.json"))},
      {"tokenizer", canonical(tok_dir)},
      {"data", eval::fnv1a_hex(read_file(f.data))},
      {"system_prompt", eval::fnv1a_hex(sys)},
      {"chat_template", tmpl_name + ":" + eval::fnv1a_hex(tmpl)},
      {"n_predict", f.c.n_predict},
      {"repeat_penalty", opt.gen.sampling.repeat_penalty}};
  eval::RunLog log(f.out, protocol);
  log_info("slotlm eval ", name, ": ", selected.size(), " of ", n_all, " samples (seed ", f.seed, "), system prompt ",
           sys_source, ", chat template ", tmpl_name, ", greedy, n_predict ", f.c.n_predict,
           f.out.empty() ? std::string(", no log (pass --out to resume)") : ", log " + f.out);
  eval::run_eval(*m, *tk, opt, log);

  std::vector<eval::ModeSummary> sums;
  if (opt.run_baseline) sums.push_back(eval::summarize(log, selected, eval::baseline_mode()));
  if (opt.run_slot) sums.push_back(eval::summarize(log, selected, eval::slot_mode(slot_opt)));
  const std::string title = str_cat("slotlm eval ", name, ": ", selected.size(), " of ", n_all, " samples (seed ",
                                    f.seed, "), ", fs::path(f.c.model_dir).filename().string(), ", greedy, n_predict ",
                                    f.c.n_predict);
  if (f.json) {
    nlohmann::json j = {{"task", name}, {"n_samples", selected.size()}, {"modes", nlohmann::json::array()}};
    for (const auto& s : sums) j["modes"].push_back(s.to_json());
    if (sums.size() == 2) {
      const eval::McNemar mc = eval::paired(sums[0], sums[1]);
      j["paired"] = {{"fixed", mc.fixed}, {"broken", mc.broken}, {"both", mc.both}, {"neither", mc.neither},
                     {"difference", mc.difference()}, {"p_value", mc.p_value}};
    }
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s", eval::format_table(title, sums).c_str());
  }
}

void add_task(CLI::App& parent, const std::string& name, eval::Task task, const std::string& help) {
  auto f = std::make_shared<EvalFlags>();
  f->task = task;
  f->c.n_predict = 512;
  CLI::App* sub = parent.add_subcommand(name, help);
  add_model_flags(*sub, f->c);
  add_slot_flags(*sub, f->c);
  f->o_steps = sub->get_option("--slot-steps");
  sub->add_option("--data", f->data, "JSONL data file (e.g. ../shared/data/" + name + "/test.jsonl)")->required();
  sub->add_option("-n,--n-predict", f->c.n_predict, "max new tokens")->capture_default_str();
  sub->add_option("--limit", f->limit, "evaluate a seeded random sample of K items (0 = all)")->capture_default_str();
  sub->add_option("--seed", f->seed, "seed of the --limit sample")->capture_default_str();
  sub->add_flag("--compare", f->compare, "run baseline (T = 0) and SLOT on the same samples, one table");
  sub->add_option("--out", f->out, "JSONL log, appended to; a rerun resumes where it stopped");
  sub->add_option("--batch", f->batch, "samples decoding at once (continuous batching: one pass over the weights per step; samples that join together run SLOT in one optimize_batch)")
      ->capture_default_str();
  sub->add_flag("--strict", f->strict, "refuse a data file with bad lines instead of skipping them");
  sub->add_option("--system-file", f->system_file, task == eval::Task::kGsm8k
                                                       ? "system prompt file (default: slot_system_prompt.txt beside --data)"
                                                       : "system prompt file (default: Qwen2.5-Math CoT, \\boxed{})");
  sub->add_flag("--no-system", f->no_system, "no system turn");
  sub->add_option("--chat-template", f->chat_template,
                  "built-in template instead of the model's: chatml|llama3|qwen2.5|deepseek-r1 (default: the "
                  "model's, else chatml)");
  sub->add_option("--tokenizer", f->tokenizer_dir, "folder with the tokenizer files (default: -m)");
  sub->add_flag("-q,--quiet", f->quiet, "no progress lines on stderr");
  sub->add_flag("--json", f->json, "print the summary as one JSON object instead of the table");
  sub->callback([f] { run(*f); });
}

}  // namespace

void register_eval(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("eval", "benchmarks: GSM8K and AIME24, baseline vs SLOT");
  sub->require_subcommand(1);
  add_task(*sub, "gsm8k", eval::Task::kGsm8k, "GSM8K with the SLOT reference protocol");
  add_task(*sub, "aime24", eval::Task::kAime24, "AIME 2024 (30 problems, integer answers)");
}

}  // namespace slotlm::cli
