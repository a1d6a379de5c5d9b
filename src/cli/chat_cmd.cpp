// SPDX-License-Identifier: MIT
// `slotlm chat`: multi-turn chat through the chat template, tokens streamed as they come, SLOT
// re-optimised for every user turn over the whole conversation prompt (each turn its own delta).
// stdin not a terminal: every non-empty line is one user message, each answered in turn, then
// exit at end of input (never waits for a terminal). Commands: /reset, /exit. On a terminal,
// Ctrl-C stops the reply being written (and at the prompt, quits).
#include <signal.h>
#include <unistd.h>

#include <atomic>

#include <cstdio>
#include <iostream>
#include <string>

#include "cli/common.h"
#include "core/error.h"
#include "core/log.h"
#include "server/engine.h"
#include "tokenizer/utf8.h"

namespace slotlm::cli {

namespace {

std::atomic<bool> g_interrupted{false};

void on_sigint(int) { g_interrupted = true; }

// SIGINT sets `g_interrupted`; no SA_RESTART, so a pending read at the prompt returns.
void catch_interrupts() {
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
}

struct ChatFlags {
  CommonFlags c;
  std::string system, chat_template, prompt_cache;
  int64_t ctx = 0;
};

void chat(ChatFlags& f) {
  const slot::SlotOptions slot_opt = slot_options(f.c);
  if (!f.c.slot_load.empty()) fail("--slot-load is not supported by chat (each turn optimises its own delta)");
  const size_t cache_bytes = prompt_cache_bytes(f.prompt_cache);
  auto m = load_model(f.c);
  auto tk = load_tokenizer(f.c.model_dir, true);
  server::EngineOptions eo;
  eo.n_ctx = f.ctx;
  eo.chat_template = f.chat_template;
  eo.prompt_cache_bytes = cache_bytes;
  const server::Engine engine(*m, *tk, eo);
  server::RequestDefaults defaults;
  defaults.sampling = sampling_params(f.c, *m);  // a fixed seed makes the whole conversation reproducible
  defaults.slot = slot_opt;
  defaults.max_tokens = f.c.n_predict;

  const bool interactive = isatty(STDIN_FILENO);
  std::vector<tok::ChatMessage> history;
  auto reset = [&] {
    history.clear();
    if (!f.system.empty()) history.push_back({"system", checked_utf8(f.system, "--system")});
  };
  reset();
  if (interactive) catch_interrupts();
  if (interactive)
    std::fprintf(stderr, "slotlm chat: template %s, SLOT %d steps; /reset clears the conversation, /exit or Ctrl-D quits, Ctrl-C stops a reply\n",
                 engine.template_name().c_str(), slot_opt.steps);
  std::string line;
  for (;;) {
    if (interactive) {
      std::fputs("> ", stdout);
      std::fflush(stdout);
    }
    if (!std::getline(std::cin, line) || g_interrupted) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      reset();
      if (interactive) std::fputs("(conversation cleared)\n", stderr);
      continue;
    }
    if (!tok::utf8_is_valid(line)) {
      if (!interactive) checked_utf8(line, "stdin");  // throws, naming the offset, as run and tokenize do
      std::fprintf(stderr, "slotlm chat: that line is not valid UTF-8; type it again\n");
      continue;
    }
    history.push_back({"user", line});
    server::CompletionRequest req;
    req.endpoint = server::Endpoint::kChat;
    req.messages = history;
    req.sampling = defaults.sampling;
    req.has_seed = true;
    req.slot = defaults.slot;
    server::PreparedRequest p;
    try {
      p = engine.prepare(std::move(req), defaults);
    } catch (const server::ApiError& e) {
      history.pop_back();
      std::fprintf(stderr, "slotlm chat: %s; /reset to start over\n", e.what());
      if (!interactive) fail(e.what());
      continue;
    }
    const server::CompletionOutcome out = engine.run(p, [](const std::string& piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
      return !g_interrupted.load();
    });
    if (g_interrupted.exchange(false)) std::fputs(" [interrupted]", stdout);
    std::fputs("\n", stdout);
    std::fflush(stdout);
    if (out.slot_ran) {
      if (out.slot_diverged_step > 0) warn_slot_diverged(out.slot_diverged_step, out.slot_lr, p.gen.slot.adam.weight_decay);
      log_info("slot: loss ", out.slot_losses.empty() ? out.slot_loss_final : out.slot_losses.front(), " -> ",
               out.slot_loss_final, ", |delta| ", out.slot_delta_norm, ", ", out.slot_ms, " ms over ",
               out.prompt_tokens, " prompt tokens");
    }
    history.push_back({"assistant", out.text});
  }
  if (interactive) std::fputs("\n", stdout);
}

}  // namespace

void register_chat(CLI::App& app) {
  auto f = std::make_shared<ChatFlags>();
  CLI::App* sub = app.add_subcommand(
      "chat", "interactive chat (streams tokens; SLOT per user turn). Without a terminal: one user message per stdin line");
  add_model_flags(*sub, f->c);
  add_sampling_flags(*sub, f->c);
  add_slot_flags(*sub, f->c);
  sub->add_option("--system", f->system, "system message");
  sub->add_option("--chat-template", f->chat_template, "built-in template instead of the model's: chatml|llama3|qwen2.5|deepseek-r1 (default: the model's, else chatml)");
  sub->add_option("--ctx", f->ctx, "context for the conversation (prompt + reply); 0 = the model's")->capture_default_str();
  add_prompt_cache_flag(*sub, f->prompt_cache);
  sub->callback([f] { chat(*f); });
}

}  // namespace slotlm::cli
