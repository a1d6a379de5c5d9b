// SPDX-License-Identifier: MIT
#include "server/queue.h"

#include <malloc.h>

#include <algorithm>

namespace slotlm::server {

RequestQueue::RequestQueue(int n_workers) {
  workers_.reserve(size_t(std::max(1, n_workers)));
  for (int i = 0; i < std::max(1, n_workers); ++i) workers_.emplace_back([this] { work(); });
}

RequestQueue::~RequestQueue() { shutdown(); }

bool RequestQueue::submit(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closing_) return false;
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void RequestQueue::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  for (auto& w : workers_)
    if (w.joinable()) w.join();
}

size_t RequestQueue::n_waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return jobs_.size();
}

size_t RequestQueue::n_running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return n_running_;
}

void RequestQueue::work() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return closing_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // closing and drained
      job = std::move(jobs_.front());
      jobs_.pop_front();
      ++n_running_;
    }
    try {
      job();
    } catch (...) {  // a job reports its own errors; this only keeps the worker alive
    }
    bool idle = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      idle = --n_running_ == 0 && jobs_.empty();
    }
    // Last Request done: hand the freed KV caches and activations back to the OS (glibc keeps
    // them in per-thread arenas otherwise), so an idle server returns to its idle footprint.
    if (idle) malloc_trim(0);
  }
}

}  // namespace slotlm::server
