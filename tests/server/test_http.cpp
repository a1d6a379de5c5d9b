// SPDX-License-Identifier: MIT
// The HTTP layer in-process on a loopback port (any free one), spoken to through a raw socket:
// 503 while loading, API key, JSON error bodies from httplib's own replies, SSE over HTTP, drain.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/error.h"
#include "model/model.h"
#include "server/server.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace slotlm::server {
namespace {

using nlohmann::json;

struct Reply {
  int status = -1;
  std::string headers, body;
};

// Undoes Transfer-Encoding: chunked.
std::string dechunk(const std::string& s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    const size_t eol = s.find("\r\n", i);
    if (eol == std::string::npos) break;
    const size_t n = std::stoul(s.substr(i, eol - i), nullptr, 16);
    if (n == 0) break;
    out += s.substr(eol + 2, n);
    i = eol + 2 + n + 2;
  }
  return out;
}

// A socket connected to the loopback `port` with one request sent ("Connection: close"), or -1.
int send_request(int port, const std::string& method, const std::string& path, const std::string& body,
                 const std::string& extra_headers = "") {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    close(fd);
    return -1;
  }
  const std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra_headers +
                          "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  (void)!send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  return fd;
}

// Sends one request and reads the whole reply.
Reply http(int port, const std::string& method, const std::string& path, const std::string& body = "",
           const std::string& extra_headers = "") {
  Reply r;
  const int fd = send_request(port, method, path, body, extra_headers);
  if (fd < 0) return r;
  std::string raw;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) raw.append(buf, size_t(n));
  close(fd);
  const size_t sp = raw.find(' '), end = raw.find("\r\n\r\n");
  if (sp == std::string::npos || end == std::string::npos) return r;
  r.status = std::stoi(raw.substr(sp + 1, 3));
  r.headers = raw.substr(0, end);
  r.body = raw.substr(end + 4);
  if (r.headers.find("Transfer-Encoding: chunked") != std::string::npos) r.body = dechunk(r.body);
  return r;
}

// Sends a streamed request and reads its reply as it comes; `started` turns true with the first
// text chunk. Returns the de-chunked body.
std::string read_stream(int port, const std::string& body, std::atomic<bool>& started) {
  std::string raw;
  const int fd = send_request(port, "POST", "/v1/completions", body);
  if (fd >= 0) {
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
      raw.append(buf, size_t(n));
      if (raw.find("\"text\"") != std::string::npos) started = true;
    }
    close(fd);
  }
  started = true;  // never leave the waiting side stuck
  const size_t end = raw.find("\r\n\r\n");
  return end == std::string::npos ? "" : dechunk(raw.substr(end + 4));
}

struct RunningServer {
  Server srv;
  std::thread th;
  explicit RunningServer(ServerOptions o) : srv(std::move(o)) {
    srv.bind();
    th = std::thread([this] { srv.listen(); });
  }
  ~RunningServer() {
    srv.stop();
    th.join();
  }
  int port() const { return srv.port(); }
};

ServerOptions any_port() {
  ServerOptions o;
  o.port = 0;
  o.model_name = "tiny";
  return o;
}

TEST(Http, UnavailableWhileLoadingAndErrorsAreJson) {
  ServerOptions o = any_port();
  o.max_body_bytes = 1024;
  RunningServer s(o);
  ASSERT_GT(s.port(), 0);
  const Reply h = http(s.port(), "GET", "/health");
  EXPECT_EQ(h.status, 503);
  EXPECT_EQ(json::parse(h.body)["status"], "loading");
  EXPECT_TRUE(json::parse(h.body)["error"].contains("message"));
  const Reply c = http(s.port(), "POST", "/v1/chat/completions", R"({"messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(c.status, 503);
  EXPECT_EQ(json::parse(c.body)["error"]["code"], "model_loading");
  const Reply nf = http(s.port(), "GET", "/v2/nothing");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(json::parse(nf.body)["error"]["code"], "not_found");
  const Reply big = http(s.port(), "POST", "/v1/completions", std::string(4096, 'x'));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(json::parse(big.body)["error"]["code"], "body_too_large");
}

// A port another server listens on is refused with the CLI's one-line error, rather than shared
// (SO_REUSEPORT would let both bind and split the connections); the first keeps answering.
TEST(Http, APortInUseIsRefused) {
  RunningServer first(any_port());
  ASSERT_GT(first.port(), 0);
  ServerOptions o = any_port();
  o.port = first.port();
  Server second(o);
  try {
    second.bind();
    FAIL() << "a second server bound port " << first.port();
  } catch (const slotlm::Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot listen on"), std::string::npos) << e.what();
  }
  EXPECT_EQ(http(first.port(), "GET", "/health").status, 503);  // still the first one, loading
}

TEST(Http, ApiKeyOnEveryEndpointButHealth) {
  ServerOptions o = any_port();
  o.api_key = "sekret";
  RunningServer s(o);
  EXPECT_EQ(http(s.port(), "GET", "/health").status, 503);  // loading, but not 401
  const Reply no = http(s.port(), "GET", "/v1/models");
  EXPECT_EQ(no.status, 401);
  EXPECT_EQ(json::parse(no.body)["error"]["code"], "invalid_api_key");
  EXPECT_EQ(http(s.port(), "GET", "/v1/models", "", "Authorization: Bearer wrong\r\n").status, 401);
  EXPECT_EQ(http(s.port(), "POST", "/v1/chat/completions", "{}", "Authorization: Bearer sekre\r\n").status, 401);
  const Reply yes = http(s.port(), "GET", "/v1/models", "", "Authorization: Bearer sekret\r\n");
  EXPECT_EQ(yes.status, 200);
  EXPECT_EQ(json::parse(yes.body)["data"][0]["id"], "tiny");
}

TEST(Http, ReadyServerAnswersAndStreams) {
  SLOTLM_REQUIRE_SHARED(dir, "models/tinystories-656k");
  auto m = model::Model::load(dir);
  auto tk = tok::Tokenizer::load(dir);
  Engine engine(*m, *tk, EngineOptions{});
  RunningServer s(any_port());
  s.srv.set_ready(&engine, RequestDefaults{});
  const Reply h = http(s.port(), "GET", "/health");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(json::parse(h.body), json({{"status", "ok"}}));

  const Reply bad = http(s.port(), "POST", "/v1/chat/completions", "{\"messages\": [");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(json::parse(bad.body)["error"]["type"], "invalid_request_error");

  const Reply c = http(s.port(), "POST", "/v1/completions", R"({"prompt":"Once upon a time","max_tokens":6,"slot":{"steps":2}})");
  ASSERT_EQ(c.status, 200) << c.body;
  const json j = json::parse(c.body);
  EXPECT_EQ(j["usage"]["completion_tokens"], 6);
  EXPECT_EQ(j["slot"]["losses"].size(), 2u);

  const Reply st = http(s.port(), "POST", "/v1/chat/completions",
                        R"({"messages":[{"role":"user","content":"Hi"}],"max_tokens":6,"stream":true})");
  ASSERT_EQ(st.status, 200);
  EXPECT_NE(st.headers.find("text/event-stream"), std::string::npos);
  // Every event is "data: ...\n\n"; JSON chunks, then [DONE] last.
  std::vector<std::string> events;
  for (size_t i = 0; i < st.body.size();) {
    const size_t end = st.body.find("\n\n", i);
    ASSERT_NE(end, std::string::npos) << st.body;
    const std::string ev = st.body.substr(i, end - i);
    ASSERT_EQ(ev.rfind("data: ", 0), 0u) << ev;
    events.push_back(ev.substr(6));
    i = end + 2;
  }
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(json::parse(events.front())["choices"][0]["delta"]["role"], "assistant");
  const json fin = json::parse(events[events.size() - 2]);
  EXPECT_EQ(fin["choices"][0]["finish_reason"], "length");
  std::string text;
  for (size_t i = 1; i + 2 < events.size(); ++i) text += json::parse(events[i])["choices"][0]["delta"]["content"].get<std::string>();
  EXPECT_FALSE(text.empty());
}

// Continuous batching over HTTP: with one decode loop, a request that arrives while another decodes
// joins it at the next step instead of waiting for it to finish, and gets the text it gets alone.
TEST(Http, ALaterRequestJoinsTheRunningDecode) {
  SLOTLM_REQUIRE_SHARED(dir, "models/tinystories-656k");
  auto m = model::Model::load(dir);
  auto tk = tok::Tokenizer::load(dir);
  Engine engine(*m, *tk, EngineOptions{});
  ServerOptions o = any_port();
  o.parallel = 1;
  RunningServer s(o);
  s.srv.set_ready(&engine, RequestDefaults{});
  const std::string short_body = R"({"prompt":"The cat","max_tokens":8})";
  const Reply alone = http(s.port(), "POST", "/v1/completions", short_body);
  ASSERT_EQ(alone.status, 200) << alone.body;
  // A long sampled request (a high temperature makes the end of the story unlikely; the seed fixes
  // how long it runs), streamed; the short one is sent once its first text has arrived.
  std::atomic<bool> started{false};
  std::string long_reply;
  std::thread long_client([&] {
    long_reply = read_stream(s.port(), R"({"prompt":"Once upon a time","max_tokens":480,"temperature":2.0,"seed":7,"stream":true})", started);
  });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const Reply joined = http(s.port(), "POST", "/v1/completions", short_body);
  long_client.join();
  ASSERT_EQ(joined.status, 200) << joined.body;
  const json j = json::parse(joined.body);
  EXPECT_EQ(j["choices"][0]["text"], json::parse(alone.body)["choices"][0]["text"]);
  // The long request's timings, from its final chunk (the one before [DONE]).
  json long_timings;
  for (size_t i = 0; i < long_reply.size();) {
    const size_t end = long_reply.find("\n\n", i);
    if (end == std::string::npos) break;
    const std::string ev = long_reply.substr(i + 6, end - i - 6);
    if (ev != "[DONE]" && json::parse(ev).contains("timings")) long_timings = json::parse(ev)["timings"];
    i = end + 2;
  }
  ASSERT_TRUE(long_timings.is_object()) << long_reply.substr(0, 300);
  ASSERT_GE(long_timings["predicted_n"].get<int64_t>(), 200) << "the long request must outlast the short one";
  // Waiting for the long request to finish would have cost about its whole decode time.
  EXPECT_LT(j["timings"]["queue_ms"].get<double>(), long_timings["gen_ms"].get<double>() / 4)
      << "the short request waited for the long one";
}

}  // namespace
}  // namespace slotlm::server
