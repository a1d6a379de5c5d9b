// SPDX-License-Identifier: MIT
// `slotlm serve`: the OpenAI-compatible HTTP server (src/server/). Listens first (so /health can
// say 503 while loading), then loads the model; SIGTERM/SIGINT drain in-flight requests and exit 0.
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <ctime>
#include <filesystem>
#include <thread>

#include "cli/common.h"
#include "core/error.h"
#include "core/log.h"
#include "server/server.h"

namespace slotlm::cli {

namespace {

struct ServeFlags {
  CommonFlags c;
  std::string host = "127.0.0.1";
  int port = 8080;
  int parallel = 1;
  int max_batch = 8;
  int64_t prefill_chunk = 256;
  int64_t ctx = 0;
  std::string api_key, chat_template, alias, max_body = "1M", prompt_cache;
};

// Blocks SIGTERM/SIGINT in this thread and every thread it starts; `wait_for_signal` takes them.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client gone mid-write must fail the write, not kill the server
  return set;
}

// Waits for SIGTERM/SIGINT (then stops `srv`) until `finished` is set.
void wait_for_signal(const sigset_t& set, server::Server& srv, const std::atomic<bool>& finished) {
  const timespec tick{0, 200 * 1000 * 1000};
  while (!finished) {
    const int sig = sigtimedwait(&set, nullptr, &tick);
    if (sig == SIGTERM || sig == SIGINT) {
      log_info("slotlm: ", sig == SIGTERM ? "SIGTERM" : "SIGINT", ": finishing requests in flight, then exiting");
      srv.stop();
      return;
    }
  }
}

void serve(ServeFlags& f) {
  check_common_flags(f.c);  // before the port is bound: the model loads after that
  if (f.parallel < 1) fail("--parallel must be >= 1");
  if (f.max_batch < 1 || f.max_batch > 256) fail("--max-batch must be in [1, 256]");
  if (f.prefill_chunk < 0) fail("--prefill-chunk must be >= 0 (0 = whole prompts)");
  if (f.port < 0 || f.port > 65535) fail("--port must be in [0, 65535]");
  if (f.ctx < 0) fail("--ctx must be >= 0 (0 = the model's context)");
  if (!std::filesystem::is_directory(f.c.model_dir)) fail(f.c.model_dir, ": not a model folder");
  const slot::SlotOptions slot_opt = slot_options(f.c);
  if (!f.c.slot_load.empty()) fail("--slot-load is not supported by serve (each request optimises its own delta)");
  const size_t cache_bytes = prompt_cache_bytes(f.prompt_cache);

  server::ServerOptions so;
  so.host = f.host;
  so.port = f.port;
  so.parallel = f.parallel;
  so.max_batch = f.max_batch;
  so.prefill_chunk = f.prefill_chunk;
  so.api_key = f.api_key;
  so.max_body_bytes = parse_size(f.max_body, "--max-body");
  so.model_name = f.alias.empty() ? std::filesystem::path(f.c.model_dir).lexically_normal().filename().string() : f.alias;
  if (so.model_name.empty()) so.model_name = std::filesystem::absolute(f.c.model_dir).parent_path().filename().string();

  if (f.host != "127.0.0.1" && f.host != "localhost" && f.host != "::1" && f.api_key.empty())
    log_info("slotlm: warning: listening on ", f.host, " without --api-key: anyone who can reach it can use it");
  const sigset_t set = block_stop_signals();
  server::Server srv(so);
  srv.bind();
  std::atomic<bool> finished{false};
  std::thread signals([&] { wait_for_signal(set, srv, finished); });
  std::thread http([&] { srv.listen(); });
  log_info("slotlm: listening on http://", f.host, ":", srv.port(), " (", f.parallel, " parallel, model loading)");

  std::unique_ptr<model::Model> m;
  std::unique_ptr<tok::Tokenizer> tk;
  std::unique_ptr<server::Engine> engine;
  try {
    m = load_model(f.c);
    tk = load_tokenizer(f.c.model_dir, true);
    server::EngineOptions eo;
    eo.n_ctx = f.ctx;
    eo.chat_template = f.chat_template;
    eo.prompt_cache_bytes = cache_bytes;
    engine = std::make_unique<server::Engine>(*m, *tk, eo);
    server::RequestDefaults d;
    d.sampling = sampling_params(f.c, *m);
    d.slot = slot_opt;
    d.max_tokens = f.c.n_predict;
    srv.set_ready(engine.get(), d);
    log_info("slotlm: ready: model '", so.model_name, "', context ", engine->n_ctx(), ", chat template ",
             engine->template_name(), ", SLOT default ", slot_opt.steps, " steps, prompt cache ",
             cache_bytes > 0 ? str_cat(cache_bytes >> 20, " MiB") : std::string("off"), f.api_key.empty() ? "" : ", API key required");
  } catch (...) {
    srv.stop();
    http.join();
    finished = true;
    signals.join();
    throw;
  }
  http.join();
  finished = true;
  signals.join();
  log_info("slotlm: server stopped");
}

}  // namespace

void register_serve(CLI::App& app) {
  auto f = std::make_shared<ServeFlags>();
  CLI::App* sub = app.add_subcommand("serve", "OpenAI-compatible HTTP server (chat/completions with SLOT per request)");
  add_model_flags(*sub, f->c);
  add_sampling_flags(*sub, f->c);
  add_slot_flags(*sub, f->c);
  sub->add_option("--host", f->host, "address to listen on (loopback by default)")->capture_default_str();
  sub->add_option("--port", f->port, "TCP port; 0 = any free port (printed on stderr)")->capture_default_str();
  sub->add_option("--parallel", f->parallel, "decode loops; requests join a running loop between its steps, so 1 keeps every request in one pass over the weights")->capture_default_str();
  sub->add_option("--max-batch", f->max_batch, "requests a decode loop decodes at once, each with its own KV cache and delta (continuous batching)")->capture_default_str();
  sub->add_option("--ctx", f->ctx, "per-request context (prompt + max_tokens); 0 = the model's")->capture_default_str();
  sub->add_option("--api-key", f->api_key, "require 'Authorization: Bearer KEY' on every endpoint but /health");
  sub->add_option("--chat-template", f->chat_template, "built-in template instead of the model's: chatml|llama3|qwen2.5|deepseek-r1 (default: the model's, else chatml)");
  sub->add_option("--alias", f->alias, "model id shown to clients (default: the model folder's name)");
  sub->add_option("--max-body", f->max_body, "largest request body (e.g. 256K, 1M)")->capture_default_str();
  add_prompt_cache_flag(*sub, f->prompt_cache);
  sub->add_option("--prefill-chunk", f->prefill_chunk, "prompt tokens a new request prefills per decode step, in the same forward as the running requests' tokens, so they go on meanwhile; 0 = whole prompts at once")->capture_default_str();
  sub->callback([f] { serve(*f); });
}

}  // namespace slotlm::cli
