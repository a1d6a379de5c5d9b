// SPDX-License-Identifier: MIT
// `slotlm run`: one generation (with SLOT when --slot-steps > 0), text streamed to stdout or one
// JSON object with --json (../shared/DESIGN.md, run --json).
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "core/error.h"
#include "core/log.h"
#include "core/mapped_file.h"
#include "core/npy.h"
#include "tokenizer/chat_template.h"

namespace slotlm::cli {

namespace {

struct RunFlags {
  CommonFlags c;
  std::string prompt, prompt_ids, prompt_file, system, chat_template, slot_save;
  bool chat = false, json = false, no_special = false;
};

std::vector<int32_t> build_prompt(const RunFlags& f, const tok::Tokenizer* tk) {
  const int given = !f.prompt.empty() + !f.prompt_ids.empty() + !f.prompt_file.empty();
  if (given != 1)
    fail("give exactly one of -p TEXT, --prompt-ids IDS, --prompt-file PATH (an empty one counts as none)");
  if (!f.prompt_ids.empty()) {
    if (f.chat) fail("--chat needs a text prompt (-p or --prompt-file), not --prompt-ids");
    auto ids = parse_ids(f.prompt_ids, "--prompt-ids");
    if (ids.empty()) fail("--prompt-ids: no token ids given");
    return ids;
  }
  if (!tk) fail(f.c.model_dir, ": a text prompt needs a tokenizer in the model folder");
  const std::string text = f.prompt_file.empty() ? checked_utf8(f.prompt, "-p")
                                                  : checked_utf8(read_file(f.prompt_file), f.prompt_file);
  tok::EncodeOptions eo;
  eo.parse_special = !f.no_special;
  if (!f.chat) {
    eo.add_special = true;  // as HF tokenizer(text): the post-processor adds BOS where the model wants it
    return tk->encode(text, eo);
  }
  std::vector<tok::ChatMessage> msgs;
  if (!f.system.empty()) msgs.push_back({"system", checked_utf8(f.system, "--system")});
  msgs.push_back({"user", text});
  const std::string& tmpl = f.chat_template.empty() ? tk->chat_template() : tok::builtin_chat_template(f.chat_template);
  if (tmpl.empty()) fail(f.c.model_dir, ": the tokenizer has no chat_template; pass --chat-template NAME");
  tok::ChatTemplateOptions to;
  to.bos_token = tk->bos_token();
  to.eos_token = tk->eos_token();
  eo.add_special = false;  // the template already holds the special tokens (HF apply_chat_template)
  return tk->encode(tok::render_chat_template(tmpl, msgs, to), eo);
}

void run(RunFlags& f) {
  if (!f.slot_save.empty() && std::filesystem::exists(f.slot_save))
    fail("--slot-save: ", f.slot_save, " already exists; choose a new file (nothing is overwritten)");
  if (!f.slot_save.empty() && f.c.slot_steps == 0 && f.c.slot_load.empty())
    fail("--slot-save needs --slot-steps > 0 (there is no delta to save)");
  const slot::SlotOptions slot_opt = slot_options(f.c);
  auto m = load_model(f.c);
  auto tk = load_tokenizer(f.c.model_dir, !f.prompt.empty() || !f.prompt_file.empty());
  gen::GenerateOptions go;
  go.n_predict = f.c.n_predict;
  go.sampling = sampling_params(f.c, *m);
  go.slot = slot_opt;
  go.delta = loaded_delta(f.c, m->d_model());
  const std::vector<int32_t> prompt = build_prompt(f, tk.get());

  std::string text;
  std::unique_ptr<tok::StreamDecoder> stream;
  if (tk) stream = std::make_unique<tok::StreamDecoder>(*tk);
  auto on_token = [&](int32_t id) {
    if (!stream) return true;
    const std::string piece = stream->push(id);
    text += piece;
    if (!f.json) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  };
  auto on_step = [&](size_t, int step, double loss) {
    log_info("slot: step ", step, "/", go.slot.steps, " loss ", loss);
  };
  gen::GenerateResult r = gen::generate(*m, prompt, go, on_token, on_step);
  if (stream) {
    const std::string rest = stream->flush();
    text += rest;
    if (!f.json) std::fwrite(rest.data(), 1, rest.size(), stdout);
  }
  if (!f.json) {
    std::printf("\n");
    std::fflush(stdout);
  }
  if (r.slot && r.slot->ran) {
    if (r.slot->diverged_step > 0) warn_slot_diverged(r.slot->diverged_step, go.slot.adam.lr, go.slot.adam.weight_decay);
    log_info("slot: loss ", r.slot->loss.empty() ? r.slot->loss_final : r.slot->loss.front(), " -> ",
             r.slot->loss_final, ", |delta| ", r.slot->delta_norm, ", ", r.slot->ms, " ms (", r.slot->plan, ")");
  }
  if (!f.slot_save.empty() && r.slot)
    write_npy_f32(f.slot_save, {int64_t(r.slot->delta.size())}, r.slot->delta.data());
  const auto& t = r.timings;
  log_info("timings: prompt ", t.n_prompt, " tok ", t.prompt_ms, " ms (", t.prompt_tok_s(), " tok/s), slot ",
           t.slot_ms, " ms, gen ", t.n_gen, " tok ", t.gen_ms, " ms (", t.gen_tok_s(), " tok/s), kv cache ",
           r.kv_bytes / 1024, " KiB");
  if (!f.json) return;
  nlohmann::json j;
  j["prompt_tokens"] = prompt;
  j["tokens"] = r.tokens;
  j["text"] = text;
  j["finish_reason"] = gen::finish_reason_name(r.finish);
  if (r.slot) {
    const auto& s = *r.slot;
    j["slot"] = {{"steps", s.ran ? go.slot.steps : 0}, {"lr", go.slot.adam.lr}, {"loss", s.loss},
                 {"loss_final", s.ran ? nlohmann::json(s.loss_final) : nlohmann::json()},
                 {"delta_norm", s.delta_norm}, {"slot_ms", s.ms},
                 {"loaded", !f.c.slot_load.empty()}, {"plan", s.plan}, {"diverged_step", s.diverged_step}};
  } else {
    j["slot"] = nullptr;
  }
  j["timings"] = {{"prompt_ms", t.prompt_ms}, {"slot_ms", t.slot_ms}, {"gen_ms", t.gen_ms},
                  {"prompt_tok_s", t.prompt_tok_s()}, {"gen_tok_s", t.gen_tok_s()}};
  std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

}  // namespace

void register_run(CLI::App& app) {
  auto f = std::make_shared<RunFlags>();
  CLI::App* sub = app.add_subcommand("run", "generate a completion (with SLOT when --slot-steps > 0)");
  add_model_flags(*sub, f->c);
  add_sampling_flags(*sub, f->c);
  add_slot_flags(*sub, f->c);
  sub->add_option("-p,--prompt", f->prompt, "prompt text");
  sub->add_option("--prompt-ids", f->prompt_ids, "prompt as token ids, e.g. \"1 2 3\"");
  sub->add_option("--prompt-file", f->prompt_file, "read the prompt text from a file");
  sub->add_flag("--chat", f->chat, "wrap the prompt as a user turn of the model's chat template");
  sub->add_option("--system", f->system, "system message (with --chat)");
  sub->add_option("--chat-template", f->chat_template, "built-in template instead of the model's: chatml|llama3|qwen2.5|deepseek-r1");
  sub->add_flag("--no-special", f->no_special, "treat special-token text in the prompt as plain text");
  sub->add_option("--slot-save", f->slot_save, "save the optimised delta as .npy float32 [d_model]");
  sub->add_flag("--json", f->json, "print one JSON object (prompt_tokens, tokens, text, slot, timings)");
  sub->callback([f] { run(*f); });
}

}  // namespace slotlm::cli
