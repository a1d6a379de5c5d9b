// SPDX-License-Identifier: MIT
// The OpenAI-compatible HTTP server (server layer): routes, API key, body cap, streaming and
// disconnect handling, wired to cpp-httplib (kept out of this header) and a RequestQueue.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "server/engine.h"
#include "server/protocol.h"

namespace slotlm::server {

struct ServerOptions {
  std::string host = "127.0.0.1";     // loopback only unless asked otherwise
  int port = 8080;                     // 0 = any free port (see `port()` after bind)
  int parallel = 1;                    // decode loops; Requests join a running one between steps
  int max_batch = 8;                   // Requests one loop decodes at once (continuous batching)
  int64_t prefill_chunk = 256;         // prompt tokens prefilled per decode step; 0 = whole prompts
  std::string api_key;                 // "" = none; else "Authorization: Bearer KEY" on all but /health
  size_t max_body_bytes = size_t(1) << 20;  // request bodies above this get 413
  std::string model_name = "slotlm";   // id shown by /v1/models and in responses
};

class Server {
 public:
  explicit Server(ServerOptions opt);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket; throws Error naming host:port when that fails.
  void bind();
  int port() const;
  // Serves until `stop()`; returns once in-flight requests are answered and the queue drained.
  void listen();
  // Makes the server answer requests (until then /health says 503 and completions 503). `engine`
  // must outlive the Server.
  void set_ready(const Engine* engine, const RequestDefaults& defaults);
  // Stops accepting connections; requests already in flight finish. Callable from any thread.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace slotlm::server
