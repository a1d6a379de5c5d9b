// SPDX-License-Identifier: MIT
// Fair FIFO job queue (server layer): `n_workers` threads run jobs in arrival order. The server's
// jobs each take the waiting Requests (up to --max-batch) into one batched decode.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace slotlm::server {

class RequestQueue {
 public:
  explicit RequestQueue(int n_workers);
  ~RequestQueue();  // same as shutdown()
  RequestQueue(const RequestQueue&) = delete;
  RequestQueue& operator=(const RequestQueue&) = delete;

  // Appends a job; returns false (and drops it) once shutdown() has begun. A job must not throw;
  // one that does is caught and ignored so that a worker never dies.
  bool submit(std::function<void()> job);
  // Stops accepting, runs every job already queued (drain), then joins the workers. Idempotent.
  void shutdown();

  size_t n_waiting() const;  // queued, not started
  size_t n_running() const;  // being run by a worker
  int n_workers() const { return int(workers_.size()); }

 private:
  void work();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> workers_;
  size_t n_running_ = 0;
  bool closing_ = false;
};

}  // namespace slotlm::server
