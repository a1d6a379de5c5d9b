// SPDX-License-Identifier: MIT
#include "server/server.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>

#include "core/error.h"
#include "core/log.h"
#include "core/timer.h"
#include "server/queue.h"
#include "server/sse.h"

namespace slotlm::server {

namespace {

using nlohmann::json;

// How often a waiting handler checks that its client is still connected.
constexpr auto kPollInterval = std::chrono::milliseconds(50);
// HTTP connection threads: each in-flight or keep-alive connection holds one, so many more than
// the decode workers (the others wait on the queue without using a core).
constexpr int kMinHttpThreads = 32;
constexpr int kHttpThreadsPerWorker = 8;

// The socket of the connection whose request has this peer and local port. cpp-httplib 0.11
// gives handlers no socket, and a non-streamed response is written only after generation ends,
// so this is how a handler notices a client that has gone away. -1 when not found.
int find_connection_fd(const httplib::Request& req) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    int fd = -1;
    try {
      fd = std::stoi(e.path().filename().string());
    } catch (const std::exception&) {
      continue;
    }
    struct stat st {};
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage peer{}, local{};
    socklen_t pl = sizeof(peer), ll = sizeof(local);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0) continue;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0) continue;
    char ip[INET6_ADDRSTRLEN] = {};
    int peer_port = -1, local_port = -1;
    if (peer.ss_family == AF_INET) {
      const auto* a = reinterpret_cast<const sockaddr_in*>(&peer);
      inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
      peer_port = ntohs(a->sin_port);
      local_port = ntohs(reinterpret_cast<const sockaddr_in*>(&local)->sin_port);
    } else if (peer.ss_family == AF_INET6) {
      const auto* a = reinterpret_cast<const sockaddr_in6*>(&peer);
      inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
      peer_port = ntohs(a->sin6_port);
      local_port = ntohs(reinterpret_cast<const sockaddr_in6*>(&local)->sin6_port);
    } else {
      continue;
    }
    if (peer_port == req.remote_port && local_port == req.local_port && req.remote_addr == ip) return fd;
  }
  return -1;
}

// False once the peer has closed or reset the connection (data waiting to be read is fine).
bool connection_alive(int fd) {
  if (fd < 0) return true;
  pollfd p{fd, short(POLLIN | POLLRDHUP), 0};
  if (poll(&p, 1, 0) <= 0) return true;
  if (p.revents & (POLLERR | POLLHUP | POLLNVAL | POLLRDHUP)) return false;
  char c;
  const ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n != 0;
}

void set_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(dump_json(body), "application/json");
}

void set_error(httplib::Response& res, const ApiError& e) { set_json(res, e.status, error_body(e)); }

// One Request in flight: shared by the HTTP thread that answers it and the worker that decodes it.
struct Sequence {
  PreparedRequest p;
  ResponseMeta meta;
  Timer since_arrival;
  double queue_ms = 0;              // from arrival to joining the decode batch
  std::atomic<bool> cancel{false};  // the client went away: stop decoding

  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> events;  // SSE text not yet written (stream)
  bool done = false;
  std::optional<ApiError> error;   // set when the decode failed
  CompletionOutcome out;

  void push(std::string ev) {
    {
      std::lock_guard<std::mutex> lock(mu);
      events.push_back(std::move(ev));
    }
    cv.notify_all();
  }
};

}  // namespace

struct Server::Impl {
  ServerOptions opt;
  httplib::Server http;
  std::unique_ptr<RequestQueue> queue;
  std::atomic<const Engine*> engine{nullptr};
  RequestDefaults defaults;
  std::atomic<bool> draining{false};
  int bound_port = -1;
  int64_t created = std::time(nullptr);

  explicit Impl(ServerOptions o) : opt(std::move(o)) {}

  // Requests accepted and not yet taken by a worker, in arrival order.
  std::mutex waiting_mu;
  std::deque<std::shared_ptr<Sequence>> waiting;

  void decode_waiting();
  // Moves waiting Requests into `batch` (up to max_batch decoding); `live` maps its ids to them.
  void admit(DecodeBatch& batch, std::map<int64_t, std::shared_ptr<Sequence>>& live);
  // Answers the Requests of `batch` that have finished and takes them out of `live`.
  void answer_finished(DecodeBatch& batch, std::map<int64_t, std::shared_ptr<Sequence>>& live);
  void finish(Sequence& s, const ApiError& e);
  void handle_completion(const httplib::Request& req, const std::string& body, httplib::Response& res, Endpoint ep);
  void answer_stream(const std::shared_ptr<Sequence>& s, int fd, httplib::Response& res);
  void setup_routes();
};

// A decode loop (continuous batching): between two decode steps it takes waiting Requests in
// arrival order, up to `max_batch` decoding at once, prefills them (and runs their SLOT) and adds
// them to the batch; each Request is answered as soon as it finishes. Every submitted Request
// also submits one call of this to the queue, so each is taken by some loop; a call that finds
// nothing waiting returns at once, and a loop returns when it has nothing left to decode.
void Server::Impl::decode_waiting() {
  DecodeBatch batch(*engine.load(), opt.prefill_chunk);
  std::map<int64_t, std::shared_ptr<Sequence>> live;  // by the batch's ids
  for (;;) {
    admit(batch, live);
    if (batch.n_active() == 0) return;
    try {
      batch.step();
    } catch (const std::exception& e) {  // Error, bad_alloc: these Requests fail, the server lives
      log_info("slotlm: a decode step of ", live.size(), " requests failed: ", e.what());
      for (auto& [id, s] : live) finish(*s, ApiError(500, str_cat("generation failed: ", e.what())));
      return;
    }
    answer_finished(batch, live);
  }
}

void Server::Impl::admit(DecodeBatch& batch, std::map<int64_t, std::shared_ptr<Sequence>>& live) {
  std::vector<std::shared_ptr<Sequence>> taken;
  {
    std::lock_guard<std::mutex> lock(waiting_mu);
    while (!waiting.empty() && int(batch.n_active() + taken.size()) < opt.max_batch) {
      std::shared_ptr<Sequence> s = std::move(waiting.front());
      waiting.pop_front();
      if (s->cancel) {
        log_info("slotlm: ", s->meta.id, " cancelled before decoding (client gone)");
        finish(*s, ApiError(499, "the client closed the connection before decoding started"));
        continue;
      }
      taken.push_back(std::move(s));
    }
  }
  if (taken.empty()) return;
  std::vector<const PreparedRequest*> reqs;
  std::vector<Engine::TextCallback> callbacks;
  std::vector<std::function<bool()>> gone;
  for (const auto& sp : taken) {
    Sequence* s = sp.get();
    s->queue_ms = s->since_arrival.ms();
    reqs.push_back(&s->p);
    gone.push_back([s] { return s->cancel.load(); });
    callbacks.push_back([s](const std::string& text) {
      if (s->cancel) return false;
      if (s->p.req.stream) s->push(sse_event(delta_chunk(s->p.req.endpoint, s->meta, text)));
      return true;
    });
  }
  try {
    const std::vector<int64_t> ids = batch.add(reqs, callbacks, gone);
    for (size_t i = 0; i < ids.size(); ++i) live[ids[i]] = taken[i];
  } catch (const std::exception& e) {  // these Requests fail; the batch already decoding goes on
    log_info("slotlm: ", taken.size(), " requests failed before decoding: ", e.what());
    for (const auto& s : taken) finish(*s, ApiError(500, str_cat("generation failed: ", e.what())));
    return;
  }
  answer_finished(batch, live);  // those with nothing to generate
}

void Server::Impl::answer_finished(DecodeBatch& batch, std::map<int64_t, std::shared_ptr<Sequence>>& live) {
  for (auto& [id, out] : batch.take_finished()) {
    const auto it = live.find(id);
    Sequence& s = *it->second;
    out.queue_ms = s.queue_ms;
    if (s.p.req.stream) {
      const Endpoint ep = s.p.req.endpoint;
      s.push(sse_event(final_chunk(ep, s.meta, out)));
      if (s.p.req.include_usage) s.push(sse_event(usage_chunk(ep, s.meta, out)));
      s.push(sse_done());
    }
    if (out.finish_reason == "cancelled") log_info("slotlm: ", s.meta.id, " cancelled (client gone)");
    {
      std::lock_guard<std::mutex> lock(s.mu);
      s.out = std::move(out);
      s.done = true;
    }
    s.cv.notify_all();
    live.erase(it);
  }
}

void Server::Impl::finish(Sequence& s, const ApiError& e) {
  if (s.p.req.stream) s.push(sse_event(error_body(e)) + sse_done());
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.error = e;
    s.done = true;
  }
  s.cv.notify_all();
}

void Server::Impl::answer_stream(const std::shared_ptr<Sequence>& s, int fd, httplib::Response& res) {
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      kSseContentType,
      [s, fd](size_t, httplib::DataSink& sink) {
        // The whole stream is written in this one call: httplib stops calling providers once the
        // server stops, and a drain must still finish the streams already started.
        for (;;) {
          std::deque<std::string> batch;
          bool finished = false;
          {
            std::unique_lock<std::mutex> lock(s->mu);
            s->cv.wait_for(lock, kPollInterval, [&] { return !s->events.empty() || s->done; });
            batch.swap(s->events);
            finished = s->done && batch.empty();
          }
          for (const auto& ev : batch) {
            if (!sink.write(ev.data(), ev.size())) {
              s->cancel = true;
              return false;
            }
          }
          if (finished) {
            sink.done();
            return true;
          }
          if (!connection_alive(fd)) {
            s->cancel = true;
            return false;
          }
        }
      },
      [s](bool success) {
        if (!success) s->cancel = true;
      });
}

void Server::Impl::handle_completion(const httplib::Request& req, const std::string& body, httplib::Response& res,
                                     Endpoint ep) {
  const Engine* eng = engine.load();
  if (!eng) throw ApiError(503, "the model is still loading; retry shortly", "", "model_loading");
  if (draining) throw ApiError(503, "the server is shutting down", "", "shutting_down");
  auto s = std::make_shared<Sequence>();
  s->p = eng->prepare(parse_request(body, ep, defaults), defaults);
  s->meta = {make_response_id(ep), int64_t(std::time(nullptr)), opt.model_name};
  const int fd = find_connection_fd(req);
  const bool stream = s->p.req.stream;
  if (stream && ep == Endpoint::kChat) s->push(sse_event(role_chunk(s->meta)));
  {
    std::lock_guard<std::mutex> lock(waiting_mu);
    waiting.push_back(s);
  }
  if (!queue->submit([this] { decode_waiting(); })) {
    std::lock_guard<std::mutex> lock(waiting_mu);
    waiting.erase(std::remove(waiting.begin(), waiting.end(), s), waiting.end());
    throw ApiError(503, "the server is shutting down", "", "shutting_down");
  }
  if (stream) {
    answer_stream(s, fd, res);
    return;
  }
  std::unique_lock<std::mutex> lock(s->mu);
  while (!s->cv.wait_for(lock, kPollInterval, [&] { return s->done; })) {
    if (!s->cancel && !connection_alive(fd)) s->cancel = true;  // the worker stops at its next token
  }
  if (s->error) {
    set_error(res, *s->error);
    return;
  }
  set_json(res, 200, completion_response(ep, s->meta, s->out));
}

void Server::Impl::setup_routes() {
  http.set_payload_max_length(opt.max_body_bytes);
  // SO_REUSEADDR only: a restart may bind while the old socket lingers in TIME_WAIT, but a port
  // another server listens on is refused. (httplib's default, SO_REUSEPORT, let a second server
  // bind the same port and take part of the first one's connections.)
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  const int n_threads = std::max(kMinHttpThreads, kHttpThreadsPerWorker * opt.parallel);
  http.new_task_queue = [n_threads] { return new httplib::ThreadPool(size_t(n_threads)); };

  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (opt.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    const std::string got = req.get_header_value("Authorization");
    const std::string want = "Bearer " + opt.api_key;
    unsigned diff = unsigned(got.size() ^ want.size());  // constant time in the key's content
    for (size_t i = 0; i < want.size(); ++i) diff |= unsigned(uint8_t(i < got.size() ? got[i] : 0) ^ uint8_t(want[i]));
    if (diff == 0) return httplib::Server::HandlerResponse::Unhandled;
    set_json(res, 401, error_body("invalid or missing API key (send 'Authorization: Bearer KEY')",
                                  "invalid_request_error", "", "invalid_api_key"));
    return httplib::Server::HandlerResponse::Handled;
  });

  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (draining) {
      json body = error_body("the server is shutting down", "server_unavailable_error", "", "shutting_down");
      body["status"] = "draining";
      set_json(res, 503, body);
    } else if (!engine.load()) {
      json body = error_body("the model is loading", "server_unavailable_error", "", "model_loading");
      body["status"] = "loading";
      set_json(res, 503, body);
    } else {
      set_json(res, 200, {{"status", "ok"}});
    }
  });
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    set_json(res, 200, models_body(opt.model_name, created));
  });
  // Bodies are read through a content reader: httplib's plain handlers cap form-encoded bodies at
  // 8 KiB with a 413, and `curl -d` sends JSON labelled as a form. Here any content type counts as
  // JSON, up to `max_body_bytes` (httplib answers 413 itself when Content-Length says more).
  auto completion = [this](Endpoint ep) {
    return [this, ep](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
      try {
        if (req.is_multipart_form_data()) {
          res.set_header("Connection", "close");  // the unread body must not become the next request
          throw ApiError(400, "send the request as JSON, not multipart/form-data");
        }
        std::string body;
        bool too_big = false;
        const bool ok = reader([&](const char* data, size_t n) {
          too_big = body.size() + n > opt.max_body_bytes;
          if (!too_big) body.append(data, n);
          return !too_big;
        });
        too_big = too_big || res.status == 413;  // set by httplib when Content-Length is over the cap
        if (too_big) throw ApiError(413, str_cat("the request body exceeds ", opt.max_body_bytes, " bytes"), "", "body_too_large");
        if (!ok) throw ApiError(400, "the request body could not be read");
        handle_completion(req, body, res, ep);
      } catch (const ApiError& e) {
        set_error(res, e);
      } catch (const Error& e) {
        set_error(res, ApiError(400, e.what()));
      }
    };
  };
  http.Post("/v1/chat/completions", completion(Endpoint::kChat));
  http.Post("/v1/completions", completion(Endpoint::kCompletion));
  http.Post("/chat/completions", completion(Endpoint::kChat));
  http.Post("/completions", completion(Endpoint::kCompletion));

  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log_info("slotlm: internal error: ", what);
    set_error(res, ApiError(500, str_cat("internal error: ", what)));
  });
  // Replies httplib makes itself (unknown route, oversized body, malformed HTTP) get a JSON body too.
  http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 404)
      set_error(res, ApiError(404, str_cat("no route for ", req.method, " ", req.path), "", "not_found"));
    else if (res.status == 413)
      set_error(res, ApiError(413, str_cat("the request body exceeds ", opt.max_body_bytes, " bytes"), "", "body_too_large"));
    else
      set_error(res, ApiError(res.status, str_cat("HTTP error ", res.status)));
  });
}

Server::Server(ServerOptions opt) : impl_(std::make_unique<Impl>(std::move(opt))) {
  impl_->queue = std::make_unique<RequestQueue>(impl_->opt.parallel);
  impl_->setup_routes();
}

Server::~Server() {
  stop();
  impl_->queue->shutdown();
}

void Server::bind() {
  auto& i = *impl_;
  if (i.opt.port == 0) {
    i.bound_port = i.http.bind_to_any_port(i.opt.host);
    if (i.bound_port <= 0) fail("cannot listen on ", i.opt.host, " (any port)");
  } else {
    if (!i.http.bind_to_port(i.opt.host, i.opt.port))
      fail("cannot listen on ", i.opt.host, ":", i.opt.port, " (port in use or address not local?)");
    i.bound_port = i.opt.port;
  }
}

int Server::port() const { return impl_->bound_port; }

void Server::listen() {
  impl_->http.listen_after_bind();  // returns after stop(), once the connection threads are joined
  impl_->queue->shutdown();         // drain: finish every Request already accepted
}

void Server::set_ready(const Engine* engine, const RequestDefaults& defaults) {
  impl_->defaults = defaults;
  impl_->engine.store(engine);
}

void Server::stop() {
  impl_->draining = true;
  impl_->http.stop();
}

}  // namespace slotlm::server
