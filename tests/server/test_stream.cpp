// SPDX-License-Identifier: MIT
// Stream framing (SSE events, OpenAI chunks), stop strings on streamed text, and the FIFO queue.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/protocol.h"
#include "server/queue.h"
#include "server/sse.h"
#include "server/stop_filter.h"
#include "test_util.h"

namespace slotlm::server {
namespace {

using nlohmann::json;

// Feeds `pieces` through a StopFilter; returns everything emitted (pushes + flush).
std::string filter(std::vector<std::string> stop, const std::vector<std::string>& pieces, bool* stopped = nullptr) {
  StopFilter f(std::move(stop));
  std::string out;
  for (const auto& p : pieces) out += f.push(p);
  out += f.flush();
  if (stopped) *stopped = f.stopped();
  return out;
}

TEST(StopFilter, CutsAtTheStopStringAcrossPieces) {
  bool stopped = false;
  EXPECT_EQ(filter({"END"}, {"Once upon a ti", "me E", "N", "D and more"}, &stopped), "Once upon a time ");
  EXPECT_TRUE(stopped);
  EXPECT_EQ(filter({"\n\n"}, {"a\n", "\nb"}, &stopped), "a");
  EXPECT_TRUE(stopped);
  // The earliest of several stop strings wins.
  EXPECT_EQ(filter({"at", "cat"}, {"the cat sat"}), "the ");
  // A held-back prefix that never completes is emitted at the end.
  EXPECT_EQ(filter({"END"}, {"the E", "N"}, &stopped), "the EN");
  EXPECT_FALSE(stopped);
  EXPECT_EQ(filter({}, {"abc", "def"}), "abcdef");
}

TEST(StopFilter, EmitsEarlyAndNeverSplitsCharacters) {
  StopFilter f({"\xC3\xA9t\xC3\xA9"});  // "été"
  EXPECT_EQ(f.push("caf"), "caf");      // cannot start the stop string: out at once
  EXPECT_EQ(f.push("\xC3\xA9"), "");     // "é" may start it: held
  EXPECT_EQ(f.push("!"), "\xC3\xA9!");
  EXPECT_EQ(f.push("\xC3\xA9t"), "");
  EXPECT_EQ(f.push("\xC3\xA9 done"), "");
  EXPECT_TRUE(f.stopped());
  EXPECT_EQ(f.push("more"), "");
}

TEST(Sse, EventFraming) {
  const std::string ev = sse_event(json{{"a", "line1\nline2"}});
  EXPECT_EQ(ev.rfind("data: ", 0), 0u);
  EXPECT_EQ(ev.substr(ev.size() - 2), "\n\n");
  EXPECT_EQ(ev.find('\n'), ev.size() - 2) << "an event must be one data line";
  EXPECT_EQ(json::parse(ev.substr(6))["a"], "line1\nline2");
  EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
}

TEST(Sse, ChatChunkSequence) {
  const ResponseMeta meta{"chatcmpl-x", 7, "tiny"};
  CompletionOutcome out;
  out.finish_reason = "length";
  out.prompt_tokens = 3;
  out.completion_tokens = 2;
  const json role = role_chunk(meta);
  EXPECT_EQ(role["object"], "chat.completion.chunk");
  EXPECT_EQ(role["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(role["choices"][0]["finish_reason"].is_null());
  const json d = delta_chunk(Endpoint::kChat, meta, "Hi");
  EXPECT_EQ(d["id"], "chatcmpl-x");
  EXPECT_EQ(d["choices"][0]["delta"]["content"], "Hi");
  EXPECT_FALSE(d["choices"][0]["delta"].contains("role"));
  const json fin = final_chunk(Endpoint::kChat, meta, out);
  EXPECT_EQ(fin["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(fin["choices"][0]["delta"].empty());
  EXPECT_TRUE(fin.contains("timings"));
  const json u = usage_chunk(Endpoint::kChat, meta, out);
  EXPECT_TRUE(u["choices"].empty());
  EXPECT_EQ(u["usage"]["total_tokens"], 5);
}

TEST(Sse, CompletionChunks) {
  const ResponseMeta meta{"cmpl-x", 7, "tiny"};
  const json d = delta_chunk(Endpoint::kCompletion, meta, "Once");
  EXPECT_EQ(d["object"], "text_completion");
  EXPECT_EQ(d["choices"][0]["text"], "Once");
  CompletionOutcome out;
  out.finish_reason = "stop";
  EXPECT_EQ(final_chunk(Endpoint::kCompletion, meta, out)["choices"][0]["finish_reason"], "stop");
}

TEST(RequestQueue, RunsInFifoOrderAndDrains) {
  std::vector<int> order;
  std::mutex mu;
  {
    RequestQueue q(1);
    for (int i = 0; i < 20; ++i)
      ASSERT_TRUE(q.submit([&, i] {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(i);
      }));
    q.shutdown();  // drains: every accepted job runs
    EXPECT_FALSE(q.submit([] {}));
  }
  ASSERT_EQ(order.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(order[size_t(i)], i);
}

TEST(RequestQueue, RunsJobsInParallelAndSurvivesThrows) {
  RequestQueue q(3);
  std::atomic<int> running{0}, peak{0}, done{0};
  for (int i = 0; i < 6; ++i) {
    q.submit([&] {
      const int now = ++running;
      int p = peak.load();
      while (now > p && !peak.compare_exchange_weak(p, now)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
      --running;
      ++done;
      throw std::runtime_error("a job that throws must not kill its worker");
    });
  }
  q.shutdown();
  EXPECT_EQ(done.load(), 6);
  EXPECT_EQ(peak.load(), 3);
}

}  // namespace
}  // namespace slotlm::server
